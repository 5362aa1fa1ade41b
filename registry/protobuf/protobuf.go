// Package protobuf parses .proto schemas for the registry, checks
// compatibility between two versions of a schema, and handles the message
// indexes of Confluent's Protobuf wire format.
//
// Compatibility compares messages by full name and fields by number, as
// the wire format does:
//
//   - a message of the old schema missing from the new one: MESSAGE_REMOVED;
//   - a field number whose type changed across wire-incompatible kinds:
//     FIELD_SCALAR_KIND_CHANGED, FIELD_NAMED_TYPE_CHANGED, FIELD_KIND_CHANGED
//     (int32/uint32/int64/uint64/bool, sint32/sint64, fixed32/sfixed32,
//     fixed64/sfixed64 and string/bytes are interchangeable);
//   - a field that keeps its name but changes its number: FIELD_RENUMBERED
//     (its data would be dropped silently in both directions);
//   - a new field using a number or name the old schema reserved:
//     FIELD_USES_RESERVED_NUMBER / FIELD_USES_RESERVED_NAME;
//   - required fields added or removed, fields moved into an existing
//     oneof, several fields moved into a new oneof.
//
// Removing a field (ideally reserving its number) and renaming a field are
// compatible.
//
// Usage:
//
//	old, _ := protobuf.Parse(`syntax = "proto3"; message M { string a = 1; }`, nil)
//	cur, _ := protobuf.Parse(`syntax = "proto3"; message M { int64 a = 1; }`, nil)
//	issues := protobuf.Check(cur, old) // FIELD_SCALAR_KIND_CHANGED at M.a
package protobuf

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/heraldhq/herald/registry/compat"
)

// mainFile is the name the schema itself is compiled under.
const mainFile = "herald/registry/schema.proto"

// Schema is a compiled .proto file.
type Schema struct {
	File protoreflect.FileDescriptor
}

// Parse compiles text; refs are the files it imports, by import path.
// The well-known google/protobuf/*.proto files are always available.
func Parse(text string, refs []compat.Ref) (*Schema, error) {
	srcs := map[string]string{mainFile: text}
	for _, r := range refs {
		srcs[r.Name] = r.Schema
	}
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(srcs),
		}),
		Reporter: reporter.NewReporter(nil, func(reporter.ErrorWithPos) {}),
	}
	files, err := c.Compile(context.Background(), mainFile)
	if err != nil {
		return nil, cleanErr(err)
	}
	if len(files) != 1 {
		return nil, errors.New("compiling the schema gave no file")
	}
	return &Schema{File: files[0]}, nil
}

func cleanErr(err error) error {
	return errors.New(strings.ReplaceAll(err.Error(), mainFile+":", "line:col "))
}

// Canonical is the text without leading and trailing white space.
func Canonical(text string) string { return strings.TrimSpace(text) }

// Messages lists every message of the file, nested ones included, by full
// name.
func messages(fd protoreflect.FileDescriptor) map[protoreflect.FullName]protoreflect.MessageDescriptor {
	out := map[protoreflect.FullName]protoreflect.MessageDescriptor{}
	var walk func(ms protoreflect.MessageDescriptors)
	walk = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			m := ms.Get(i)
			if m.IsMapEntry() {
				continue
			}
			out[m.FullName()] = m
			walk(m.Messages())
		}
	}
	walk(fd.Messages())
	return out
}

// Check returns why reader cannot read data written with writer; nil means
// it can.
func Check(reader, writer *Schema) []compat.Issue {
	var c checker
	rms := messages(reader.File)
	wms := messages(writer.File)
	for _, name := range sortedNames(wms) {
		rm, ok := rms[name]
		if !ok {
			c.add("MESSAGE_REMOVED", string(name), "The message %s of the old schema is missing from the new schema", name)
			continue
		}
		c.checkMessage(rm, wms[name])
	}
	return c.issues
}

type checker struct{ issues []compat.Issue }

func (c *checker) add(kind, path, format string, args ...any) {
	c.issues = append(c.issues, compat.Issue{Kind: kind, Path: path, Message: fmt.Sprintf(format, args...)})
}

func sortedNames(m map[protoreflect.FullName]protoreflect.MessageDescriptor) []protoreflect.FullName {
	out := make([]protoreflect.FullName, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Package avro parses Avro schemas for the registry and checks whether a
// reader schema can read data written with a writer schema, following the
// Avro specification's schema resolution rules:
//
//   - primitive promotions: int -> long -> float -> double, string <-> bytes;
//   - records match by full name or a reader alias; a reader field missing
//     from the writer (by name or field alias) needs a default; writer
//     fields the reader lacks are skipped;
//   - enums: a writer symbol the reader lacks is an error unless the reader
//     enum has a default;
//   - fixed: same name and size; arrays and maps: items and values resolve;
//   - unions: every writer branch must resolve to some reader branch.
//
// Usage:
//
//	w, _ := avro.Parse(`{"type":"record","name":"r","fields":[{"name":"a","type":"int"}]}`, nil)
//	r, _ := avro.Parse(`{"type":"record","name":"r","fields":[{"name":"a","type":"long"}]}`, nil)
//	issues := avro.Check(r, w) // empty: int promotes to long
package avro

import (
	"bytes"
	"encoding/json"
	"fmt"

	havro "github.com/hamba/avro/v2"

	"github.com/heraldhq/herald/registry/compat"
)

// Schema is a parsed Avro schema.
type Schema struct {
	Avro havro.Schema
}

// Parse parses text with the given references, dependencies first. Each
// reference is parsed into a private name cache, so schemas with the same
// names never leak between parses.
func Parse(text string, refs []compat.Ref) (*Schema, error) {
	cache := &havro.SchemaCache{}
	for _, r := range refs {
		if _, err := havro.ParseWithCache(r.Schema, "", cache); err != nil {
			return nil, fmt.Errorf("reference %q: %w", r.Name, err)
		}
	}
	s, err := havro.ParseWithCache(text, "", cache)
	if err != nil {
		return nil, err
	}
	return &Schema{Avro: s}, nil
}

// Canonical is the text with insignificant white space removed; two
// schemas with the same canonical text are the same schema.
func Canonical(text string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(text)); err != nil {
		return text
	}
	return b.String()
}

// Check returns why reader cannot read data written with writer; nil means
// it can.
func Check(reader, writer *Schema) []compat.Issue {
	c := checker{seen: map[[2]string]bool{}}
	c.check(reader.Avro, writer.Avro, "")
	return c.issues
}

type checker struct {
	issues []compat.Issue
	// seen holds the named (reader, writer) pairs being checked, so
	// recursive types terminate.
	seen map[[2]string]bool
}

func (c *checker) add(kind, path, format string, args ...any) {
	if path == "" {
		path = "/"
	}
	c.issues = append(c.issues, compat.Issue{Kind: kind, Path: path, Message: fmt.Sprintf(format, args...)})
}

func deref(s havro.Schema) havro.Schema {
	if r, ok := s.(*havro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

func (c *checker) check(r, w havro.Schema, path string) {
	r, w = deref(r), deref(w)
	if wu, ok := w.(*havro.UnionSchema); ok {
		c.checkWriterUnion(r, wu, path)
		return
	}
	if ru, ok := r.(*havro.UnionSchema); ok {
		c.checkReaderUnion(ru, w, path)
		return
	}
	if r.Type() != w.Type() {
		if !promotable(w.Type(), r.Type()) {
			c.add("TYPE_MISMATCH", path, "The type (path '%s') of a field in the new schema does not match with the old schema: reader type %s cannot read writer type %s", pathOrRoot(path), r.Type(), w.Type())
		}
		return
	}
	switch rs := r.(type) {
	case *havro.RecordSchema:
		c.checkRecord(rs, w.(*havro.RecordSchema), path)
	case *havro.EnumSchema:
		c.checkEnum(rs, w.(*havro.EnumSchema), path)
	case *havro.FixedSchema:
		c.checkFixed(rs, w.(*havro.FixedSchema), path)
	case *havro.ArraySchema:
		c.check(rs.Items(), w.(*havro.ArraySchema).Items(), path+"/items")
	case *havro.MapSchema:
		c.check(rs.Values(), w.(*havro.MapSchema).Values(), path+"/values")
	}
}

func pathOrRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// promotable reports whether a writer's primitive type w can be read as r.
func promotable(w, r havro.Type) bool {
	switch w {
	case havro.Int:
		return r == havro.Long || r == havro.Float || r == havro.Double
	case havro.Long:
		return r == havro.Float || r == havro.Double
	case havro.Float:
		return r == havro.Double
	case havro.String:
		return r == havro.Bytes
	case havro.Bytes:
		return r == havro.String
	}
	return false
}

// compatible reports, without recording issues, whether r reads w.
func (c *checker) compatible(r, w havro.Schema) bool {
	sub := checker{seen: c.seen}
	sub.check(r, w, "")
	return len(sub.issues) == 0
}

func (c *checker) checkWriterUnion(r havro.Schema, wu *havro.UnionSchema, path string) {
	for i, wt := range wu.Types() {
		if ru, ok := deref(r).(*havro.UnionSchema); ok {
			c.checkReaderUnion(ru, wt, fmt.Sprintf("%s/%d", path, i))
			continue
		}
		if !c.compatible(r, wt) {
			c.add("MISSING_UNION_BRANCH", fmt.Sprintf("%s/%d", path, i), "The new schema is missing a type inside a union field at path '%s/%d': reader type %s cannot read writer branch %s", pathOrRoot(path), i, typeName(r), typeName(wt))
		}
	}
}

func (c *checker) checkReaderUnion(ru *havro.UnionSchema, w havro.Schema, path string) {
	for _, rt := range ru.Types() {
		if c.compatible(rt, w) {
			return
		}
	}
	c.add("MISSING_UNION_BRANCH", path, "The new schema is missing a type inside a union field at path '%s': no reader branch can read writer type %s", pathOrRoot(path), typeName(w))
}

func typeName(s havro.Schema) string {
	s = deref(s)
	if n, ok := s.(havro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

// namesMatch: the reader's full name or one of its aliases equals the
// writer's full name.
func namesMatch(r, w havro.NamedSchema) bool {
	if r.FullName() == w.FullName() {
		return true
	}
	for _, a := range r.Aliases() {
		if a == w.FullName() {
			return true
		}
	}
	return false
}

func (c *checker) checkName(r, w havro.NamedSchema, path string) bool {
	if namesMatch(r, w) {
		return true
	}
	c.add("NAME_MISMATCH", path+"/name", "The type name at path '%s/name' in the new schema does not match the old schema: expected %s, found %s", path, w.FullName(), r.FullName())
	return false
}

func (c *checker) checkRecord(r, w *havro.RecordSchema, path string) {
	if !c.checkName(r, w, path) {
		return
	}
	key := [2]string{r.FullName(), w.FullName()}
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	defer delete(c.seen, key)
	for i, rf := range r.Fields() {
		fpath := fmt.Sprintf("%s/fields/%d", path, i)
		wf := findField(w, rf)
		if wf == nil {
			if !rf.HasDefault() {
				c.add("READER_FIELD_MISSING_DEFAULT_VALUE", fpath, "The field '%s' at path '%s' in the new schema has no default value and is missing in the old schema", rf.Name(), fpath)
			}
			continue
		}
		c.check(rf.Type(), wf.Type(), fpath+"/type")
	}
}

// findField finds the writer field a reader field reads: same name, or a
// writer field named like one of the reader field's aliases.
func findField(w *havro.RecordSchema, rf *havro.Field) *havro.Field {
	for _, wf := range w.Fields() {
		if wf.Name() == rf.Name() {
			return wf
		}
	}
	for _, a := range rf.Aliases() {
		for _, wf := range w.Fields() {
			if wf.Name() == a {
				return wf
			}
		}
	}
	return nil
}

func (c *checker) checkEnum(r, w *havro.EnumSchema, path string) {
	if !c.checkName(r, w, path) {
		return
	}
	if r.HasDefault() {
		return
	}
	have := make(map[string]bool, len(r.Symbols()))
	for _, s := range r.Symbols() {
		have[s] = true
	}
	var missing []string
	for _, s := range w.Symbols() {
		if !have[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		c.add("MISSING_ENUM_SYMBOLS", path+"/symbols", "The new schema is missing enum symbols '%v' at path '%s/symbols' that the old schema has, and the new enum has no default", missing, path)
	}
}

func (c *checker) checkFixed(r, w *havro.FixedSchema, path string) {
	if !c.checkName(r, w, path) {
		return
	}
	if r.Size() != w.Size() {
		c.add("FIXED_SIZE_MISMATCH", path+"/size", "The size of FIXED type field at path '%s/size' in the new schema does not match with the old schema: expected %d, found %d", path, w.Size(), r.Size())
	}
}

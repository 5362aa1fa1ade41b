// Package compat holds the types shared by the registry's per-format
// compatibility checkers (registry/avro, registry/jsonschema,
// registry/protobuf): resolved schema references and the issues a check
// reports.
//
// Every checker answers one question: can data written with the writer
// schema be read with the reader schema? BACKWARD asks it with the new
// schema as reader and an old one as writer, FORWARD the other way round,
// FULL both ways.
//
//	issues := avro.Check(newSchema, oldSchema) // BACKWARD
//	for _, is := range issues {
//		fmt.Println(is) // {errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', ...}
//	}
package compat

import "fmt"

// Ref is a referenced schema, resolved: Name is the reference's name as the
// referencing schema uses it (an Avro full name, a JSON Schema URL, a
// .proto import path) and Schema its text. Lists of refs are ordered with
// dependencies first.
type Ref struct {
	Name   string
	Schema string
}

// Issue is one reason why a reader cannot read a writer's data.
type Issue struct {
	// Kind is an upper-case error type, named like Confluent's
	// (READER_FIELD_MISSING_DEFAULT_VALUE, TYPE_MISMATCH, ...).
	Kind string
	// Path locates the offending part of the reader schema, e.g.
	// "/fields/2" for Avro or "#/properties/name" for JSON Schema.
	Path string
	// Message says in words which field broke what.
	Message string
}

// String formats the issue the way Confluent's verbose compatibility
// messages do.
func (is Issue) String() string {
	return fmt.Sprintf("{errorType:'%s', description:'%s', additionalInfo:'%s'}", is.Kind, is.Message, is.Path)
}

// Strings formats each issue with String.
func Strings(issues []Issue) []string {
	out := make([]string, len(issues))
	for i, is := range issues {
		out[i] = is.String()
	}
	return out
}

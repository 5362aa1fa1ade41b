// Package jsonschema parses JSON Schemas for the registry and checks
// whether a reader schema accepts all data a writer schema accepts.
//
// The rules follow Confluent's, which look at the content model of
// objects. An object schema is open when additionalProperties is absent
// or true, closed when it is false, and partially open when it is a
// schema. For data written with writer W and read with reader R:
//
//   - R adding a property p is safe if W is closed (no old data has p);
//     if W is open, old data may carry p with any value, so strictly it is
//     PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL, and allowed only with the
//     Lenient option (what most teams expect);
//   - R removing a property is safe if R is open, an error if R is closed;
//   - R closing an open W is ADDITIONAL_PROPERTIES_REMOVED;
//   - R requiring a property W did not require needs a default;
//   - types may widen (integer -> number) and never narrow; enums may grow;
//     string, number and array bounds may only loosen.
//
// Usage:
//
//	w, _ := jsonschema.Parse(`{"type":"object","properties":{"a":{"type":"string"}}}`, nil)
//	r, _ := jsonschema.Parse(`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}`, nil)
//	jsonschema.Check(r, w, jsonschema.Options{})              // PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
//	jsonschema.Check(r, w, jsonschema.Options{Lenient: true}) // compatible
package jsonschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	js "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/heraldhq/herald/registry/compat"
)

// base is the URL schemas are compiled under, so that relative reference
// names ("address.json") resolve next to it.
const base = "https://schemas.herald.invalid/"

// Schema is a parsed, compiled JSON Schema.
type Schema struct {
	// Compiled validates documents.
	Compiled *js.Schema
	doc      any
	refs     map[string]any // reference URL -> document
}

// Validate reports whether v (as decoded by encoding/json or
// jsonschema.UnmarshalJSON) is valid.
func (s *Schema) Validate(v any) error { return s.Compiled.Validate(v) }

type noLoader struct{}

func (noLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("reference %s is not a registered schema reference", u)
}

func refURL(name string) string {
	if u, err := url.Parse(name); err == nil && u.IsAbs() {
		return name
	}
	return base + strings.TrimPrefix(name, "/")
}

func decodeDoc(text string) (any, error) {
	return js.UnmarshalJSON(strings.NewReader(text))
}

// Parse compiles text with the given references. Nothing is loaded from
// the network or the file system: a $ref must name the schema itself or a
// reference.
func Parse(text string, refs []compat.Ref) (*Schema, error) {
	doc, err := decodeDoc(text)
	if err != nil {
		return nil, err
	}
	if _, ok := doc.(map[string]any); !ok {
		if _, ok := doc.(bool); !ok {
			return nil, errors.New("a JSON schema must be an object or a boolean")
		}
	}
	c := js.NewCompiler()
	c.UseLoader(noLoader{})
	s := &Schema{doc: doc, refs: map[string]any{}}
	for _, r := range refs {
		rd, err := decodeDoc(r.Schema)
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", r.Name, err)
		}
		if err := c.AddResource(refURL(r.Name), rd); err != nil {
			return nil, fmt.Errorf("reference %q: %w", r.Name, err)
		}
		s.refs[refURL(r.Name)] = rd
	}
	main := base + "schema.json"
	if err := c.AddResource(main, doc); err != nil {
		return nil, err
	}
	if s.Compiled, err = c.Compile(main); err != nil {
		return nil, err
	}
	return s, nil
}

// Canonical is the text with insignificant white space removed.
func Canonical(text string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(text)); err != nil {
		return text
	}
	return b.String()
}

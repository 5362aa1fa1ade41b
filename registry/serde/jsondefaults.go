package serde

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/registry/compat"
)

// maxRefDepth bounds how many "$ref"s and nested objects the default
// filler follows, so a cyclic schema cannot loop.
const maxRefDepth = 32

// maxFillSteps bounds the schemas one document's filling visits, so a
// schema whose allOfs refer back to themselves cannot blow up.
const maxFillSteps = 10000

// jsonDefaults fills, in a decoded document, the properties a reader's
// JSON schema gives a "default" and the document lacks.
type jsonDefaults struct {
	root any            // the reader's schema document
	refs map[string]any // reference name -> its schema document
}

func parseJSONDefaults(text string, refs []compat.Ref) (*jsonDefaults, error) {
	root, err := decodeJSON([]byte(text))
	if err != nil {
		return nil, err
	}
	d := &jsonDefaults{root: root, refs: map[string]any{}}
	for _, r := range refs {
		if d.refs[r.Name], err = decodeJSON([]byte(r.Schema)); err != nil {
			return nil, fmt.Errorf("reference %q: %w", r.Name, err)
		}
	}
	return d, nil
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keeps 64-bit integers exact
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// apply returns doc with the reader's defaults filled in; doc itself if
// none applies.
func (d *jsonDefaults) apply(doc []byte) ([]byte, error) {
	v, err := decodeJSON(doc)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	f := filler{d: d, steps: maxFillSteps}
	if !ok || !f.fill(obj, d.root, d.root, 0) {
		return doc, nil
	}
	return json.Marshal(obj)
}

// filler is one document's filling, with its budget of steps.
type filler struct {
	d     *jsonDefaults
	steps int
}

// fill sets the defaults schema names on obj, following "$ref" (root is
// the document local refs point into) and "allOf", and recursing into
// nested objects. It reports whether it set anything.
func (f *filler) fill(obj map[string]any, schema, root any, depth int) bool {
	if depth > maxRefDepth || f.steps <= 0 {
		return false
	}
	f.steps--
	d := f.d
	s, root := d.deref(schema, root, depth)
	m, ok := s.(map[string]any)
	if !ok {
		return false
	}
	changed := false
	if all, ok := m["allOf"].([]any); ok {
		for _, sub := range all {
			changed = f.fill(obj, sub, root, depth+1) || changed
		}
	}
	props, _ := m["properties"].(map[string]any)
	for name, sub := range props {
		ps, proot := d.deref(sub, root, depth+1)
		pm, _ := ps.(map[string]any)
		cur, present := obj[name]
		if !present {
			if def, ok := pm["default"]; ok {
				obj[name] = def
				changed = true
			}
			continue
		}
		if child, ok := cur.(map[string]any); ok {
			changed = f.fill(child, ps, proot, depth+1) || changed
		}
	}
	return changed
}

// deref follows "$ref"s from schema: "#/json/pointer" into root, or
// "name#/pointer" into the reference called name. It returns the schema
// found and the document it lives in; schema itself if it has no $ref or
// the ref cannot be followed.
func (d *jsonDefaults) deref(schema, root any, depth int) (any, any) {
	for ; depth <= maxRefDepth; depth++ {
		m, ok := schema.(map[string]any)
		if !ok {
			return schema, root
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return schema, root
		}
		name, frag, _ := strings.Cut(ref, "#")
		doc := root
		if name != "" {
			if doc, ok = d.refs[name]; !ok {
				return schema, root
			}
		}
		target, err := pointer(doc, frag)
		if err != nil {
			return schema, root
		}
		schema, root = target, doc
	}
	return schema, root
}

// pointer resolves a JSON pointer (RFC 6901) in doc.
func pointer(doc any, ptr string) (any, error) {
	if ptr == "" {
		return doc, nil
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, errors.New("not a JSON pointer")
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := doc.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, fmt.Errorf("no %q", tok)
			}
			doc = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil, fmt.Errorf("no index %q", tok)
			}
			doc = v[i]
		default:
			return nil, fmt.Errorf("no %q", tok)
		}
	}
	return doc, nil
}

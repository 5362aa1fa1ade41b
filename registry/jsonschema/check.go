package jsonschema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/heraldhq/herald/registry/compat"
)

// Options tune Check.
type Options struct {
	// Lenient allows a reader to add a property to a writer's open content
	// model; see the package doc.
	Lenient bool
}

// Check returns why reader does not accept all data writer accepts; nil
// means it does.
func Check(reader, writer *Schema, opt Options) []compat.Issue {
	c := &checker{opt: opt, r: reader, w: writer, seen: map[string]bool{}}
	c.check(side{reader.doc, reader.doc}, side{writer.doc, writer.doc}, "#")
	return c.issues
}

// side is a schema node with the document its local $refs point into.
type side struct {
	node any
	root any
}

type checker struct {
	opt    Options
	r, w   *Schema
	issues []compat.Issue
	// seen holds the $ref pairs under check, so recursive schemas end.
	seen map[string]bool
}

func (c *checker) add(kind, path, format string, args ...any) {
	c.issues = append(c.issues, compat.Issue{Kind: kind, Path: path, Message: fmt.Sprintf(format, args...)})
}

// deref follows $ref (local pointers and references) to the schema node.
// It returns the last $ref followed, "" if none.
func deref(s *Schema, n side) (side, string) {
	last := ""
	for range 32 {
		m, ok := n.node.(map[string]any)
		if !ok {
			return n, last
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return n, last
		}
		last = ref
		doc, frag := n.root, ref
		if i := strings.IndexByte(ref, '#'); i != 0 {
			name, f, _ := strings.Cut(ref, "#")
			doc, frag = s.refs[refURL(name)], "#"+f
		}
		n = side{pointer(doc, frag), doc}
		if n.node == nil || len(m) > 1 {
			return n, last // siblings of $ref are ignored by this check
		}
	}
	return n, last
}

// pointer resolves a "#/a/b" JSON pointer in doc; nil if missing.
func pointer(doc any, frag string) any {
	frag = strings.TrimPrefix(frag, "#")
	if frag == "" {
		return doc
	}
	cur := doc
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[tok]
	}
	return cur
}

func (c *checker) check(r, w side, path string) {
	var rref, wref string
	r, rref = deref(c.r, r)
	w, wref = deref(c.w, w)
	if rref != "" || wref != "" {
		key := fmt.Sprintf("%p%s\x00%p%s", r.root, rref, w.root, wref)
		if c.seen[key] {
			return
		}
		c.seen[key] = true
		defer delete(c.seen, key)
	}
	if rb, ok := r.node.(bool); ok && rb || r.node == nil {
		return // the reader accepts anything
	}
	if wb, ok := w.node.(bool); ok && !wb {
		return // the writer wrote nothing
	}
	rm, rok := r.node.(map[string]any)
	wm, wok := w.node.(map[string]any)
	if !rok {
		c.add("SCHEMA_NARROWED", path, "The new schema at path '%s' rejects all data, the old schema accepts some", path)
		return
	}
	if !wok {
		wm = map[string]any{}
	}
	if c.checkCombined(r, w, rm, wm, path) {
		return
	}
	c.checkTypes(rm, wm, path)
	c.checkEnum(rm, wm, path)
	c.checkBounds(rm, wm, path)
	c.checkObject(r, w, rm, wm, path)
	c.checkArray(r, w, rm, wm, path)
}

// types is the set of types a schema allows; nil means any.
func types(m map[string]any) map[string]bool {
	switch t := m["type"].(type) {
	case string:
		return map[string]bool{t: true}
	case []any:
		out := map[string]bool{}
		for _, x := range t {
			if s, ok := x.(string); ok {
				out[s] = true
			}
		}
		return out
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (c *checker) checkTypes(rm, wm map[string]any, path string) {
	rt, wt := types(rm), types(wm)
	if rt == nil {
		return
	}
	if wt == nil {
		c.add("TYPE_NARROWED", path+"/type", "The type at path '%s' is restricted to %v in the new schema, the old schema allowed any type", path, sortedKeys(rt))
		return
	}
	for _, t := range sortedKeys(wt) {
		if rt[t] || t == "integer" && rt["number"] {
			continue
		}
		c.add("TYPE_CHANGED", path+"/type", "The type at path '%s' changed: the old schema allows %q, the new schema allows only %v", path, t, sortedKeys(rt))
	}
}

// may reports whether data of JSON type t can reach this schema's
// type-specific keywords.
func may(m map[string]any, t string) bool {
	ts := types(m)
	return ts == nil || ts[t] || t == "number" && ts["integer"]
}

func (c *checker) checkEnum(rm, wm map[string]any, path string) {
	re, ok := rm["enum"].([]any)
	if !ok {
		return
	}
	we, ok := wm["enum"].([]any)
	if !ok {
		c.add("ENUM_ADDED", path+"/enum", "The new schema restricts path '%s' to an enum, the old schema did not", path)
		return
	}
	for _, v := range we {
		if !containsValue(re, v) {
			c.add("ENUM_VALUE_REMOVED", path+"/enum", "The enum at path '%s' lost the value %v in the new schema", path, v)
		}
	}
}

func containsValue(list []any, v any) bool {
	for _, x := range list {
		if reflect.DeepEqual(normalize(x), normalize(v)) {
			return true
		}
	}
	return false
}

func normalize(v any) any {
	if n, ok := v.(json.Number); ok {
		f, _ := n.Float64()
		return f
	}
	return v
}

func num(m map[string]any, k string) (float64, bool) {
	switch n := m[k].(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	}
	return 0, false
}

// bounds lists keywords whose reader value may not be tighter than the
// writer's: for max* a smaller reader value is tighter, for min* larger.
var bounds = []struct {
	key      string
	typ      string
	upper    bool
	kindName string
}{
	{"maxLength", "string", true, "MAX_LENGTH"},
	{"minLength", "string", false, "MIN_LENGTH"},
	{"maximum", "number", true, "MAXIMUM"},
	{"minimum", "number", false, "MINIMUM"},
	{"exclusiveMaximum", "number", true, "EXCLUSIVE_MAXIMUM"},
	{"exclusiveMinimum", "number", false, "EXCLUSIVE_MINIMUM"},
	{"maxItems", "array", true, "MAX_ITEMS"},
	{"minItems", "array", false, "MIN_ITEMS"},
	{"maxProperties", "object", true, "MAX_PROPERTIES"},
	{"minProperties", "object", false, "MIN_PROPERTIES"},
}

func (c *checker) checkBounds(rm, wm map[string]any, path string) {
	for _, b := range bounds {
		rv, ok := num(rm, b.key)
		if !ok || !may(wm, b.typ) {
			continue
		}
		wv, wok := num(wm, b.key)
		switch {
		case !wok:
			c.add(b.kindName+"_ADDED", path+"/"+b.key, "The new schema adds %s %v at path '%s'", b.key, rv, path)
		case b.upper && rv < wv:
			c.add(b.kindName+"_DECREASED", path+"/"+b.key, "The new schema decreases %s at path '%s' from %v to %v", b.key, path, wv, rv)
		case !b.upper && rv > wv:
			c.add(b.kindName+"_INCREASED", path+"/"+b.key, "The new schema increases %s at path '%s' from %v to %v", b.key, path, wv, rv)
		}
	}
	for _, k := range []string{"pattern", "multipleOf", "const", "format"} {
		rv, ok := rm[k]
		if ok && !reflect.DeepEqual(normalize(rv), normalize(wm[k])) {
			c.add(strings.ToUpper(k)+"_CHANGED", path+"/"+k, "The new schema changes %s at path '%s' from %v to %v", k, path, wm[k], rv)
		}
	}
}

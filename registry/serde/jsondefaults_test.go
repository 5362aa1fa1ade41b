package serde

import (
	"encoding/json"
	"testing"
)

// FuzzJSONDefaults: filling never panics or loops, its output is JSON,
// and every property the document had keeps its value.
func FuzzJSONDefaults(f *testing.F) {
	f.Add(`{"properties":{"a":{"default":1},"b":{"$ref":"#/$defs/b"}},"$defs":{"b":{"properties":{"c":{"default":"x"}}}}}`, `{"b":{}}`)
	f.Add(`{"allOf":[{"$ref":"#"},{"$ref":"#"}],"properties":{"a":{"$ref":"#"}}}`, `{"a":{"a":{"a":{}}}}`)
	f.Add(`{"properties":{"a":{"$ref":"#/properties/a"}}}`, `{}`)
	f.Add(`true`, `[1,2]`)
	f.Fuzz(func(t *testing.T, schema, doc string) {
		d, err := parseJSONDefaults(schema, nil)
		if err != nil {
			return
		}
		out, err := d.apply([]byte(doc))
		if err != nil {
			return
		}
		var before, after any
		if json.Unmarshal([]byte(doc), &before) != nil {
			return // trailing bytes that the decoder ignored
		}
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("output is not JSON: %v: %s", err, out)
		}
		b, ok := before.(map[string]any)
		if !ok {
			return
		}
		a := after.(map[string]any)
		for k, v := range b {
			vb, _ := json.Marshal(v)
			va, _ := json.Marshal(a[k])
			if _, isObj := v.(map[string]any); !isObj && string(vb) != string(va) {
				t.Fatalf("property %q changed from %s to %s", k, vb, va)
			}
		}
	})
}

// TestJSONDefaultsSelfReferringAllOf: a schema whose allOf refers back to
// itself is cut off by the step budget instead of running for ever.
func TestJSONDefaultsSelfReferringAllOf(t *testing.T) {
	d, err := parseJSONDefaults(`{"allOf":[{"$ref":"#"},{"$ref":"#"},{"$ref":"#"}],"properties":{"a":{"default":1}}}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.apply([]byte(`{}`))
	if err != nil || string(out) != `{"a":1}` {
		t.Fatalf("got %s %v", out, err)
	}
}

package jsonschema

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/registry/compat"
)

func obj(props, extra string) string {
	return `{"type":"object","properties":{` + props + `}` + extra + `}`
}

const closed = `,"additionalProperties":false`

func TestCheck(t *testing.T) {
	tests := []struct {
		name           string
		reader, writer string
		lenient        bool
		expKind        string
		expIn          string
	}{
		{"same", obj(`"a":{"type":"string"}`, ""), obj(`"a":{"type":"string"}`, ""), false, "", ""},
		// The case that broke other registries: adding a property to an
		// open content model.
		{"add property to open model", obj(`"a":{"type":"string"},"b":{"type":"integer"}`, ""), obj(`"a":{"type":"string"}`, ""), false, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", "'b'"},
		{"add property to open model, lenient", obj(`"a":{"type":"string"},"b":{"type":"integer"}`, ""), obj(`"a":{"type":"string"}`, ""), true, "", ""},
		{"add property to closed model", obj(`"a":{"type":"string"},"b":{"type":"integer"}`, closed), obj(`"a":{"type":"string"}`, closed), false, "", ""},
		{"add property matching partially open model", obj(`"b":{"type":"integer"}`, `,"additionalProperties":{"type":"number"}`), obj(``, `,"additionalProperties":{"type":"integer"}`), false, "", ""},
		{"add property conflicting with partially open model", obj(`"b":{"type":"string"}`, `,"additionalProperties":{"type":"string"}`), obj(``, `,"additionalProperties":{"type":"integer"}`), false, "TYPE_CHANGED", "/properties/b"},
		{"remove property from open model", obj(``, ""), obj(`"a":{"type":"string"}`, ""), false, "", ""},
		{"remove property from closed model", obj(``, closed), obj(`"a":{"type":"string"}`, closed), false, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "'a'"},
		{"close an open model", obj(`"a":{"type":"string"}`, closed), obj(`"a":{"type":"string"}`, ""), false, "ADDITIONAL_PROPERTIES_REMOVED", "#"},
		{"open a closed model", obj(`"a":{"type":"string"}`, ""), obj(`"a":{"type":"string"}`, closed), false, "", ""},
		{"required added", obj(`"a":{"type":"string"}`, `,"required":["a"]`), obj(`"a":{"type":"string"}`, ""), false, "REQUIRED_PROPERTY_ADDED", "'a'"},
		{"required added with default", obj(`"a":{"type":"string","default":"x"}`, `,"required":["a"]`), obj(`"a":{"type":"string"}`, ""), false, "", ""},
		{"required removed", obj(`"a":{"type":"string"}`, ""), obj(`"a":{"type":"string"}`, `,"required":["a"]`), false, "", ""},
		{"integer widens to number", obj(`"a":{"type":"number"}`, ""), obj(`"a":{"type":"integer"}`, ""), false, "", ""},
		{"number narrows to integer", obj(`"a":{"type":"integer"}`, ""), obj(`"a":{"type":"number"}`, ""), false, "TYPE_CHANGED", "#/properties/a"},
		{"type changed", obj(`"a":{"type":"string"}`, ""), obj(`"a":{"type":"boolean"}`, ""), false, "TYPE_CHANGED", "boolean"},
		{"type union grows", obj(`"a":{"type":["string","null"]}`, ""), obj(`"a":{"type":"string"}`, ""), false, "", ""},
		{"enum grows", `{"enum":["A","B","C"]}`, `{"enum":["A","B"]}`, false, "", ""},
		{"enum shrinks", `{"enum":["A"]}`, `{"enum":["A","B"]}`, false, "ENUM_VALUE_REMOVED", "B"},
		{"maxLength decreased", `{"type":"string","maxLength":5}`, `{"type":"string","maxLength":10}`, false, "MAX_LENGTH_DECREASED", "10"},
		{"maxLength increased", `{"type":"string","maxLength":20}`, `{"type":"string","maxLength":10}`, false, "", ""},
		{"minimum added", `{"type":"number","minimum":0}`, `{"type":"number"}`, false, "MINIMUM_ADDED", "minimum"},
		{"array items narrowed", `{"type":"array","items":{"type":"integer"}}`, `{"type":"array","items":{"type":"number"}}`, false, "TYPE_CHANGED", "/items"},
		{"oneOf grows", `{"oneOf":[{"type":"string"},{"type":"integer"}]}`, `{"oneOf":[{"type":"string"}]}`, false, "", ""},
		{"oneOf shrinks", `{"oneOf":[{"type":"string"}]}`, `{"oneOf":[{"type":"string"},{"type":"integer"}]}`, false, "COMBINED_TYPE_SUBSCHEMAS_CHANGED", "1"},
		{"local ref", `{"$defs":{"n":{"type":"number"}},"type":"object","properties":{"a":{"$ref":"#/$defs/n"}}}`, `{"$defs":{"n":{"type":"integer"}},"type":"object","properties":{"a":{"$ref":"#/$defs/n"}}}`, false, "", ""},
		{"local ref narrowed", `{"$defs":{"n":{"type":"integer"}},"type":"object","properties":{"a":{"$ref":"#/$defs/n"}}}`, `{"$defs":{"n":{"type":"number"}},"type":"object","properties":{"a":{"$ref":"#/$defs/n"}}}`, false, "TYPE_CHANGED", "/properties/a"},
		{"recursive ref", `{"type":"object","properties":{"next":{"$ref":"#"}}}`, `{"type":"object","properties":{"next":{"$ref":"#"}}}`, false, "", ""},
		{"true reader", `true`, obj(`"a":{"type":"string"}`, ""), false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, tt.reader, nil)
			w := mustParse(t, tt.writer, nil)
			assertIssues(t, Check(r, w, Options{Lenient: tt.lenient}), tt.expKind, tt.expIn)
		})
	}
}

func mustParse(t *testing.T, s string, refs []compat.Ref) *Schema {
	t.Helper()
	p, err := Parse(s, refs)
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return p
}

func assertIssues(t *testing.T, issues []compat.Issue, kind, in string) {
	t.Helper()
	if kind == "" {
		if len(issues) > 0 {
			t.Fatalf("expected compatible, got %v", issues)
		}
		return
	}
	if len(issues) == 0 {
		t.Fatalf("expected %s, got compatible", kind)
	}
	s := issues[0].String()
	if issues[0].Kind != kind || !strings.Contains(s, in) {
		t.Fatalf("expected %s mentioning %q, got %v", kind, in, issues)
	}
}

func TestReferences(t *testing.T) {
	addr1 := []compat.Ref{{Name: "address.json", Schema: `{"type":"object","properties":{"zip":{"type":"integer"}}}`}}
	addr2 := []compat.Ref{{Name: "address.json", Schema: `{"type":"object","properties":{"zip":{"type":"string"}}}`}}
	main := obj(`"addr":{"$ref":"address.json"}`, "")
	w := mustParse(t, main, addr1)
	r := mustParse(t, main, addr2)
	assertIssues(t, Check(r, w, Options{}), "TYPE_CHANGED", "zip")
	if err := w.Validate(map[string]any{"addr": map[string]any{"zip": "x"}}); err == nil {
		t.Fatal("expected the reference to validate")
	}
	if _, err := Parse(main, nil); err == nil {
		t.Fatal("expected an error for a missing reference")
	}
}

func TestParseInvalid(t *testing.T) {
	for _, s := range []string{`{`, `"str"`, `{"type":"nope"}`, `{"$ref":"file:///etc/passwd"}`, `{"properties":{"a":{"type":5}}}`} {
		if _, err := Parse(s, nil); err == nil {
			t.Errorf("%s: expected an error", s)
		}
	}
}

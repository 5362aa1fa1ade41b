package avro

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/registry/compat"
)

func rec(fields string) string {
	return `{"type":"record","name":"R","namespace":"n","fields":[` + fields + `]}`
}

func enum(symbols, extra string) string {
	return `{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":[` + symbols + `]` + extra + `}}]}`
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name           string
		reader, writer string
		expKind        string // "" = compatible
		expIn          string // a word the message must contain
	}{
		{"same", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"int"}`), "", ""},
		{"int->long", rec(`{"name":"a","type":"long"}`), rec(`{"name":"a","type":"int"}`), "", ""},
		{"int->float", rec(`{"name":"a","type":"float"}`), rec(`{"name":"a","type":"int"}`), "", ""},
		{"int->double", rec(`{"name":"a","type":"double"}`), rec(`{"name":"a","type":"int"}`), "", ""},
		{"long->float", rec(`{"name":"a","type":"float"}`), rec(`{"name":"a","type":"long"}`), "", ""},
		{"long->double", rec(`{"name":"a","type":"double"}`), rec(`{"name":"a","type":"long"}`), "", ""},
		{"float->double", rec(`{"name":"a","type":"double"}`), rec(`{"name":"a","type":"float"}`), "", ""},
		{"long->int narrows", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"long"}`), "TYPE_MISMATCH", "long"},
		{"double->float narrows", rec(`{"name":"a","type":"float"}`), rec(`{"name":"a","type":"double"}`), "TYPE_MISMATCH", "double"},
		{"string->bytes", rec(`{"name":"a","type":"bytes"}`), rec(`{"name":"a","type":"string"}`), "", ""},
		{"bytes->string", rec(`{"name":"a","type":"string"}`), rec(`{"name":"a","type":"bytes"}`), "", ""},
		{"string->int", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"string"}`), "TYPE_MISMATCH", "/fields/0/type"},
		{"added field with default", rec(`{"name":"a","type":"int"},{"name":"b","type":"int","default":0}`), rec(`{"name":"a","type":"int"}`), "", ""},
		{"added field without default", rec(`{"name":"a","type":"int"},{"name":"b","type":"int"}`), rec(`{"name":"a","type":"int"}`), "READER_FIELD_MISSING_DEFAULT_VALUE", "'b'"},
		{"removed field", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"int"},{"name":"b","type":"int"}`), "", ""},
		{"renamed field with alias", rec(`{"name":"b","type":"int","aliases":["a"]}`), rec(`{"name":"a","type":"int"}`), "", ""},
		{"renamed field without alias", rec(`{"name":"b","type":"int"}`), rec(`{"name":"a","type":"int"}`), "READER_FIELD_MISSING_DEFAULT_VALUE", "'b'"},
		{"renamed record with alias", `{"type":"record","name":"S","aliases":["n.R"],"fields":[]}`, rec(``), "", ""},
		{"renamed record", `{"type":"record","name":"S","fields":[]}`, rec(``), "NAME_MISMATCH", "n.R"},
		{"enum symbol added", enum(`"A","B","C"`, ``), enum(`"A","B"`, ``), "", ""},
		{"enum symbol removed, no default", enum(`"A"`, ``), enum(`"A","B"`, ``), "MISSING_ENUM_SYMBOLS", "B"},
		{"enum symbol removed, with default", enum(`"A","U"`, `,"default":"U"`), enum(`"A","B"`, ``), "", ""},
		{"fixed size", `{"type":"fixed","name":"F","size":4}`, `{"type":"fixed","name":"F","size":8}`, "FIXED_SIZE_MISMATCH", "8"},
		{"array items promote", `{"type":"array","items":"long"}`, `{"type":"array","items":"int"}`, "", ""},
		{"map values", `{"type":"map","values":"int"}`, `{"type":"map","values":"string"}`, "TYPE_MISMATCH", "/values"},
		{"nullable added", rec(`{"name":"a","type":["null","int"]}`), rec(`{"name":"a","type":"int"}`), "", ""},
		{"union branch dropped", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":["null","int"]}`), "MISSING_UNION_BRANCH", "null"},
		{"union grows", `["null","int","string"]`, `["null","int"]`, "", ""},
		{"union shrinks", `["null","int"]`, `["null","int","string"]`, "MISSING_UNION_BRANCH", "string"},
		{"recursive", `{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]},{"name":"v","type":"long"}]}`, `{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]},{"name":"v","type":"int"}]}`, "", ""},
		{"nested default missing", rec(`{"name":"in","type":` + `{"type":"record","name":"I","fields":[{"name":"x","type":"int"}]}}`), rec(`{"name":"in","type":{"type":"record","name":"I","fields":[]}}`), "READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/0/type/fields/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(tt.reader, nil)
			if err != nil {
				t.Fatalf("reader: %v", err)
			}
			w, err := Parse(tt.writer, nil)
			if err != nil {
				t.Fatalf("writer: %v", err)
			}
			issues := Check(r, w)
			assertIssues(t, issues, tt.expKind, tt.expIn)
		})
	}
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
		t.Fatalf("expected %s mentioning %q, got %s", kind, in, s)
	}
}

func TestParseReferences(t *testing.T) {
	refs := []compat.Ref{{Name: "n.Addr", Schema: `{"type":"record","name":"Addr","namespace":"n","fields":[{"name":"city","type":"string"}]}`}}
	if _, err := Parse(rec(`{"name":"a","type":"n.Addr"}`), refs); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(rec(`{"name":"a","type":"n.Addr"}`), nil); err == nil {
		t.Fatal("expected unknown type without the reference")
	}
}

func TestParseInvalid(t *testing.T) {
	for _, s := range []string{`{`, `{"type":"record","name":"R"}`, `"nope"`, `{"type":"enum","name":"E","symbols":["A","A"]}`} {
		if _, err := Parse(s, nil); err == nil {
			t.Errorf("%s: expected an error", s)
		}
	}
}

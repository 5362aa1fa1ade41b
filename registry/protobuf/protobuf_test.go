package protobuf

import (
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/registry/compat"
)

func p3(body string) string { return "syntax = \"proto3\";\npackage shop;\n" + body }

func TestCheck(t *testing.T) {
	tests := []struct {
		name           string
		reader, writer string
		expKind        string
		expIn          string
	}{
		{"same", p3(`message M { string a = 1; }`), p3(`message M { string a = 1; }`), "", ""},
		{"field added", p3(`message M { string a = 1; int32 b = 2; }`), p3(`message M { string a = 1; }`), "", ""},
		{"field removed", p3(`message M { string a = 1; }`), p3(`message M { string a = 1; int32 b = 2; }`), "", ""},
		{"field removed and reserved", p3(`message M { reserved 2; reserved "b"; string a = 1; }`), p3(`message M { string a = 1; int32 b = 2; }`), "", ""},
		{"field renamed", p3(`message M { string name = 1; }`), p3(`message M { string a = 1; }`), "", ""},
		{"field renumbered", p3(`message M { string a = 2; }`), p3(`message M { string a = 1; }`), "FIELD_RENUMBERED", "shop.M.a"},
		{"number reused with other type", p3(`message M { int64 b = 1; }`), p3(`message M { string a = 1; }`), "FIELD_SCALAR_KIND_CHANGED", "string to int64"},
		{"int32 to int64", p3(`message M { int64 a = 1; }`), p3(`message M { int32 a = 1; }`), "", ""},
		{"int32 to sint32", p3(`message M { sint32 a = 1; }`), p3(`message M { int32 a = 1; }`), "FIELD_SCALAR_KIND_CHANGED", "shop.M.a"},
		{"string to bytes", p3(`message M { bytes a = 1; }`), p3(`message M { string a = 1; }`), "", ""},
		{"scalar to message", p3(`message N {} message M { N a = 1; }`), p3(`message N {} message M { int32 a = 1; }`), "FIELD_KIND_CHANGED", "shop.M.a"},
		{"message type changed", p3(`message N {} message O {} message M { O a = 1; }`), p3(`message N {} message O {} message M { N a = 1; }`), "FIELD_NAMED_TYPE_CHANGED", "shop.N to shop.O"},
		{"message removed", p3(`message M {}`), p3(`message M {} message Gone {}`), "MESSAGE_REMOVED", "shop.Gone"},
		{"nested message field changed", p3(`message M { message In { bool x = 1; } In in = 1; }`), p3(`message M { message In { double x = 1; } In in = 1; }`), "FIELD_SCALAR_KIND_CHANGED", "shop.M.In.x"},
		{"new field uses reserved number", p3(`message M { int32 c = 2; }`), p3(`message M { reserved 2; }`), "FIELD_USES_RESERVED_NUMBER", "= 2"},
		{"new field uses reserved name", p3(`message M { int32 b = 3; }`), p3(`message M { reserved "b"; }`), "FIELD_USES_RESERVED_NAME", "shop.M.b"},
		{"enum value added", p3(`enum E { A = 0; B = 1; } message M { E e = 1; }`), p3(`enum E { A = 0; } message M { E e = 1; }`), "", ""},
		{"field moved into existing oneof", p3(`message M { oneof o { int32 a = 1; int32 b = 2; } }`), p3(`message M { oneof o { int32 a = 1; } int32 b = 2; }`), "FIELD_MOVED_TO_EXISTING_ONEOF", "shop.M.b"},
		{"fields moved into new oneof", p3(`message M { oneof o { int32 a = 1; int32 b = 2; } }`), p3(`message M { int32 a = 1; int32 b = 2; }`), "MULTIPLE_FIELDS_MOVED_TO_ONEOF", "shop.M.o"},
		{"one field into new oneof", p3(`message M { oneof o { int32 a = 1; } }`), p3(`message M { int32 a = 1; }`), "", ""},
		{"required added (proto2)", `syntax = "proto2"; message M { required int32 a = 1; optional int32 b = 2; }`, `syntax = "proto2"; message M { optional int32 b = 2; }`, "REQUIRED_FIELD_ADDED", "M.a"},
		{"map value changed", p3(`message M { map<string, int64> m = 1; }`), p3(`message M { map<string, string> m = 1; }`), "FIELD_NAMED_TYPE_CHANGED", "shop.M.m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, tt.reader, nil)
			w := mustParse(t, tt.writer, nil)
			issues := Check(r, w)
			if tt.expKind == "" {
				if len(issues) > 0 {
					t.Fatalf("expected compatible, got %v", issues)
				}
				return
			}
			if len(issues) == 0 || issues[0].Kind != tt.expKind || !strings.Contains(issues[0].String(), tt.expIn) {
				t.Fatalf("expected %s mentioning %q, got %v", tt.expKind, tt.expIn, issues)
			}
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

func TestReferencesAndWellKnown(t *testing.T) {
	refs := []compat.Ref{{Name: "shop/money.proto", Schema: p3(`message Money { int64 cents = 1; }`)}}
	s := mustParse(t, p3(`import "shop/money.proto"; import "google/protobuf/timestamp.proto";
message Order { Money total = 1; google.protobuf.Timestamp at = 2; }`), refs)
	if s.File.Messages().Get(0).Name() != "Order" {
		t.Fatal("wrong message")
	}
	if _, err := Parse(p3(`import "shop/money.proto"; message O { Money m = 1; }`), nil); err == nil {
		t.Fatal("expected a missing import to fail")
	}
}

func TestParseInvalid(t *testing.T) {
	for _, s := range []string{`message {`, p3(`message M { string a = 1; int32 b = 1; }`), p3(`message M { Unknown u = 1; }`)} {
		if _, err := Parse(s, nil); err == nil {
			t.Errorf("%s: expected an error", s)
		}
	}
}

func TestIndexes(t *testing.T) {
	s := mustParse(t, p3(`message A {} message B { message C { message D {} } }`), nil)
	d := s.File.Messages().Get(1).Messages().Get(0).Messages().Get(0)
	tests := []struct {
		idx []int
		enc []byte
	}{
		{[]int{0}, []byte{0}},
		{[]int{1}, []byte{2, 2}},
		{[]int{1, 0, 0}, []byte{6, 2, 0, 0}},
	}
	for _, tt := range tests {
		enc := AppendIndexes(nil, tt.idx)
		if !slices.Equal(enc, tt.enc) {
			t.Errorf("%v: encoded %v, want %v", tt.idx, enc, tt.enc)
		}
		got, n, err := ReadIndexes(append(enc, 0xff))
		if err != nil || n != len(enc) || !slices.Equal(got, tt.idx) {
			t.Errorf("%v: read %v %d %v", tt.idx, got, n, err)
		}
		if _, err := MessageAt(s.File, tt.idx); err != nil {
			t.Error(err)
		}
	}
	if got := Indexes(d); !slices.Equal(got, []int{1, 0, 0}) {
		t.Errorf("Indexes(D) = %v", got)
	}
	if _, _, err := ReadIndexes([]byte{0x80}); err == nil {
		t.Error("expected a truncated varint to fail")
	}
	if _, err := MessageAt(s.File, []int{5}); err == nil {
		t.Error("expected an out-of-range index to fail")
	}
}

package registry

import (
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

// formatCase is one schema type's walk through the registry: a referenced
// schema, a schema using it, a compatible and an incompatible evolution.
type formatCase struct {
	typ         sr.SchemaType
	refName     string
	ref         string
	v1, v2, bad string
	badMentions string
	invalid     string
}

var formatCases = []formatCase{
	{
		typ:         sr.TypeAvro,
		refName:     "shop.Money",
		ref:         `{"type":"record","name":"Money","namespace":"shop","fields":[{"name":"cents","type":"long"}]}`,
		v1:          `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"total","type":"shop.Money"}]}`,
		v2:          `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"total","type":"shop.Money"},{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]},"default":"NEW"}]}`,
		bad:         `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"total","type":"shop.Money"},{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW"]},"default":"NEW"},{"name":"id","type":"string"}]}`,
		badMentions: "'id'",
		invalid:     `{"type":"record","name":"Order"}`,
	},
	{
		typ:         sr.TypeJSON,
		refName:     "money.json",
		ref:         `{"type":"object","properties":{"cents":{"type":"integer"}}}`,
		v1:          `{"type":"object","properties":{"total":{"$ref":"money.json"}},"additionalProperties":false}`,
		v2:          `{"type":"object","properties":{"total":{"$ref":"money.json"},"status":{"type":"string"}},"additionalProperties":false}`,
		bad:         `{"type":"object","properties":{"total":{"$ref":"money.json"},"status":{"type":"integer"}},"additionalProperties":false}`,
		badMentions: "status",
		invalid:     `{"type":"object","properties":{"a":{"type":12}}}`,
	},
	{
		typ:         sr.TypeProtobuf,
		refName:     "shop/money.proto",
		ref:         "syntax = \"proto3\";\npackage shop;\nmessage Money { int64 cents = 1; }\n",
		v1:          "syntax = \"proto3\";\npackage shop;\nimport \"shop/money.proto\";\nmessage Order { Money total = 1; }\n",
		v2:          "syntax = \"proto3\";\npackage shop;\nimport \"shop/money.proto\";\nmessage Order { Money total = 1; string status = 2; }\n",
		bad:         "syntax = \"proto3\";\npackage shop;\nimport \"shop/money.proto\";\nmessage Order { Money total = 1; double status = 2; }\n",
		badMentions: "shop.Order.status",
		invalid:     "syntax = \"proto3\";\nmessage Order { Money total = 1; }\n",
	},
}

func TestSRFormats(t *testing.T) {
	for _, fc := range formatCases {
		t.Run(fc.typ.String(), func(t *testing.T) { testFormat(t, fc) })
	}
}

func testFormat(t *testing.T, fc formatCase) {
	tr := newTestRegistry(t)
	ctx := ctxT(t)
	cl := tr.cl
	money, err := cl.CreateSchema(ctx, "money", sr.Schema{Schema: fc.ref, Type: fc.typ})
	if err != nil {
		t.Fatal(err)
	}
	refs := []sr.SchemaReference{{Name: fc.refName, Subject: "money", Version: 1}}
	s1, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: fc.v1, Type: fc.typ, References: refs})
	if err != nil {
		t.Fatal(err)
	}
	if s1.Type != fc.typ || len(s1.References) != 1 {
		t.Fatalf("registered: %+v", s1)
	}
	s2, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: fc.v2, Type: fc.typ, References: refs})
	if err != nil || s2.Version != 2 {
		t.Fatalf("evolve: %+v %v", s2, err)
	}
	_, err = cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: fc.bad, Type: fc.typ, References: refs})
	if srCode(err) != 409 || !strings.Contains(err.Error(), fc.badMentions) {
		t.Fatalf("incompatible: %v", err)
	}
	res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), "orders-value", -1, sr.Schema{Schema: fc.bad, Type: fc.typ, References: refs})
	if err != nil || res.Is || len(res.Messages) == 0 || !strings.Contains(strings.Join(res.Messages, " "), fc.badMentions) {
		t.Fatalf("check: %+v %v", res, err)
	}
	if _, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: fc.invalid, Type: fc.typ}); srCode(err) != 42201 {
		t.Fatalf("invalid: %v", err)
	}
	look, err := cl.LookupSchema(ctx, "orders-value", sr.Schema{Schema: fc.v1, Type: fc.typ, References: refs})
	if err != nil || look.ID != s1.ID || look.Version != 1 {
		t.Fatalf("lookup: %+v %v", look, err)
	}
	users, err := cl.SchemaReferences(ctx, "money", 1)
	if err != nil || len(users) != 2 {
		t.Fatalf("referenced by: %+v %v", users, err)
	}
	// A referenced version cannot be deleted.
	if err := cl.DeleteSchema(ctx, "money", 1, sr.SoftDelete); srCode(err) != 42206 {
		t.Fatalf("delete referenced: %v", err)
	}
	if _, err := cl.DeleteSubject(ctx, "orders-value", sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DeleteSubject(ctx, "orders-value", sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteSchema(ctx, "money", 1, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	tr.restart()
	got, err := tr.cl.SchemaByID(ctx, money.ID)
	if err != nil || got.Type != fc.typ {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	subs, _ := tr.cl.Subjects(sr.WithParams(ctx, sr.ShowDeleted))
	if !slices.Equal(subs, []string{"money"}) {
		t.Fatalf("subjects after restart: %v", subs)
	}
}

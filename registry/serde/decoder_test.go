package serde_test

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/heraldhq/herald/registry/protobuf"
	"github.com/heraldhq/herald/registry/serde"
)

// v1 and v2 of one record, for Avro and JSON: v2 adds currency, with a
// default, which BACKWARD compatibility allows.
type orderV1 struct {
	ID  string `avro:"id" json:"id"`
	Qty int64  `avro:"qty" json:"qty"`
}

type orderV2 struct {
	ID       string `avro:"id" json:"id"`
	Qty      int64  `avro:"qty" json:"qty"`
	Currency string `avro:"currency" json:"currency"`
}

const (
	orderAvroV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"string"},{"name":"qty","type":"long"}]}`
	orderAvroV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"string"},{"name":"qty","type":"long"},
		{"name":"currency","type":"string","default":"EUR"}]}`
	orderJSONV1 = `{"type":"object","additionalProperties":false,
		"properties":{"id":{"type":"string"},"qty":{"type":"integer"}},"required":["id"]}`
	orderJSONV2 = `{"type":"object","additionalProperties":false,
		"properties":{"id":{"type":"string"},"qty":{"type":"integer"},"currency":{"type":"string","default":"EUR"}},"required":["id"]}`
)

// TestReaderSchemaDirections decodes v1 and v2 data with v1 and v2
// readers, for Avro and JSON Schema, both schemas registered under one
// subject in a real registry (so v2 passed the BACKWARD check).
func TestReaderSchemaDirections(t *testing.T) {
	cl := newRegistry(t)
	ctx := context.Background()
	formats := []struct {
		name   string
		typ    sr.SchemaType
		v1, v2 string
	}{
		{"avro", sr.TypeAvro, orderAvroV1, orderAvroV2},
		{"json", sr.TypeJSON, orderJSONV1, orderJSONV2},
	}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			subject := "orders-" + f.name + "-value"
			v1 := sr.Schema{Schema: f.v1, Type: f.typ}
			v2 := sr.Schema{Schema: f.v2, Type: f.typ}
			b1 := encode(t, cl, subject, v1, orderV1{ID: "o-1", Qty: 3})
			b2 := encode(t, cl, subject, v2, orderV2{ID: "o-2", Qty: 4, Currency: "USD"})

			// A fresh Serde per direction: nothing cached from the writers.
			old := decoder(t, cl, v1)
			var o1 orderV1
			if err := old.Decode(ctx, b1, &o1); err != nil || o1 != (orderV1{ID: "o-1", Qty: 3}) {
				t.Errorf("old->old: %+v %v", o1, err)
			}
			o1 = orderV1{}
			if err := old.Decode(ctx, b2, &o1); err != nil || o1 != (orderV1{ID: "o-2", Qty: 4}) {
				t.Errorf("new->old: %+v %v", o1, err)
			}
			cur := decoder(t, cl, v2)
			var o2 orderV2
			if err := cur.Decode(ctx, b1, &o2); err != nil || o2 != (orderV2{ID: "o-1", Qty: 3, Currency: "EUR"}) {
				t.Errorf("old->new: %+v %v, want the reader's default EUR", o2, err)
			}
			o2 = orderV2{}
			if err := cur.Decode(ctx, b2, &o2); err != nil || o2 != (orderV2{ID: "o-2", Qty: 4, Currency: "USD"}) {
				t.Errorf("new->new: %+v %v", o2, err)
			}
		})
	}
}

const (
	orderProtoV1 = `syntax = "proto3";
package shop;
message Order {
  string id = 1;
  int64 qty = 2;
}
`
	orderProtoV2 = `syntax = "proto3";
package shop;
message Order {
  string id = 1;
  int64 qty = 2;
  string currency = 3;
}
`
)

// TestReaderSchemaDirectionsProtobuf pins Protobuf's rules: a field the
// writer lacks is its zero value (proto3 has no defaults); a field the
// reader lacks stays in the unknown fields and survives re-encoding.
func TestReaderSchemaDirectionsProtobuf(t *testing.T) {
	cl := newRegistry(t)
	ctx := context.Background()
	const subject = "orders-proto-value"
	v1 := sr.Schema{Schema: orderProtoV1, Type: sr.TypeProtobuf}
	v2 := sr.Schema{Schema: orderProtoV2, Type: sr.TypeProtobuf}
	md1, md2 := orderDescriptor(t, orderProtoV1), orderDescriptor(t, orderProtoV2)
	in1 := dynamicpb.NewMessage(md1)
	setField(in1, "id", protoreflect.ValueOfString("o-1"))
	setField(in1, "qty", protoreflect.ValueOfInt64(3))
	in2 := dynamicpb.NewMessage(md2)
	setField(in2, "id", protoreflect.ValueOfString("o-2"))
	setField(in2, "qty", protoreflect.ValueOfInt64(4))
	setField(in2, "currency", protoreflect.ValueOfString("USD"))
	b1 := encode(t, cl, subject, v1, in1)
	b2 := encode(t, cl, subject, v2, in2)

	old, cur := decoder(t, cl, v1), decoder(t, cl, v2)
	out := dynamicpb.NewMessage(md1)
	if err := old.Decode(ctx, b1, out); err != nil || !proto.Equal(out, in1) {
		t.Errorf("old->old: %v %v", out, err)
	}
	out = dynamicpb.NewMessage(md2)
	if err := cur.Decode(ctx, b1, out); err != nil || field(out, "id") != "o-1" || field(out, "qty") != int64(3) || field(out, "currency") != "" {
		t.Errorf("old->new: %v %v, want currency empty", out, err)
	}
	out = dynamicpb.NewMessage(md1)
	if err := old.Decode(ctx, b2, out); err != nil || field(out, "id") != "o-2" || field(out, "qty") != int64(4) {
		t.Errorf("new->old: %v %v", out, err)
	}
	if len(out.GetUnknown()) == 0 {
		t.Errorf("new->old: currency is not kept in the unknown fields")
	}
	// Re-encoded by the old reader and read as v2, currency is still there.
	again, err := proto.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	back := dynamicpb.NewMessage(md2)
	if err := proto.Unmarshal(again, back); err != nil || !proto.Equal(back, in2) {
		t.Errorf("new->old->new: %v %v, want %v", back, err, in2)
	}
	out = dynamicpb.NewMessage(md2)
	if err := cur.Decode(ctx, b2, out); err != nil || !proto.Equal(out, in2) {
		t.Errorf("new->new: %v %v", out, err)
	}
}

// TestReaderSchemaIncompatible: a reader that cannot read the writer's
// data gets ErrIncompatible, not zero values.
func TestReaderSchemaIncompatible(t *testing.T) {
	cl := newRegistry(t)
	ctx := context.Background()
	b := encode(t, cl, "orders-value", sr.Schema{Schema: orderAvroV1}, orderV1{ID: "o-1", Qty: 1})
	// currency without a default: v1 data cannot be read.
	noDefault := `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"string"},{"name":"currency","type":"string"}]}`
	for name, reader := range map[string]sr.Schema{
		"avro field without default": {Schema: noDefault},
		"json reader of avro data":   {Schema: orderJSONV2, Type: sr.TypeJSON},
	} {
		var out orderV2
		if err := decoder(t, cl, reader).Decode(ctx, b, &out); !errors.Is(err, serde.ErrIncompatible) {
			t.Errorf("%s: %v, want ErrIncompatible", name, err)
		}
	}
}

// TestJSONReaderDefaultsNested fills defaults through $ref and nested
// objects, and leaves present values alone.
func TestJSONReaderDefaultsNested(t *testing.T) {
	cl := newRegistry(t)
	ctx := context.Background()
	writer := `{"type":"object","properties":{"id":{"type":"string"},"ship":{"type":"object"}}}`
	reader := `{"type":"object","$defs":{"addr":{"type":"object","properties":{
			"country":{"type":"string","default":"NL"},"city":{"type":"string","default":"?"}}}},
		"properties":{"id":{"type":"string"},"ship":{"$ref":"#/$defs/addr"},
			"big":{"type":"integer","default":9007199254740993}}}`
	type addr struct{ Country, City string }
	type shipment struct {
		ID   string `json:"id"`
		Ship addr   `json:"ship"`
		Big  int64  `json:"big"`
	}
	b := encode(t, cl, "ship-value", sr.Schema{Schema: writer, Type: sr.TypeJSON},
		map[string]any{"id": "s-1", "ship": map[string]any{"city": "Utrecht"}})
	var out shipment
	if err := decoder(t, cl, sr.Schema{Schema: reader, Type: sr.TypeJSON}).Decode(ctx, b, &out); err != nil {
		t.Fatal(err)
	}
	want := shipment{ID: "s-1", Ship: addr{Country: "NL", City: "Utrecht"}, Big: 9007199254740993}
	if out != want {
		t.Fatalf("got %+v, want %+v", out, want)
	}
}

func encode(t *testing.T, cl *sr.Client, subject string, schema sr.Schema, v any) []byte {
	t.Helper()
	enc, err := serde.New(cl).Encoder(context.Background(), subject, schema)
	if err != nil {
		t.Fatal(err)
	}
	b, err := enc.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decoder(t *testing.T, cl *sr.Client, reader sr.Schema) *serde.Decoder {
	t.Helper()
	d, err := serde.New(cl).Decoder(context.Background(), reader)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func orderDescriptor(t *testing.T, text string) protoreflect.MessageDescriptor {
	t.Helper()
	p, err := protobuf.Parse(text, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p.File.Messages().ByName("Order")
}

func setField(m *dynamicpb.Message, name string, v protoreflect.Value) {
	m.Set(m.Descriptor().Fields().ByName(protoreflect.Name(name)), v)
}

func field(m *dynamicpb.Message, name string) any {
	return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(name))).Interface()
}

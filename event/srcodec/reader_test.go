package srcodec_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/event/srcodec"
)

type orderV1 struct {
	ID  string `avro:"id" json:"id"`
	Qty int64  `avro:"qty" json:"qty"`
}

type orderV2 struct {
	ID       string `avro:"id" json:"id"`
	Qty      int64  `avro:"qty" json:"qty"`
	Currency string `avro:"currency" json:"currency"`
}

// TestReaderSchema: a service built for v1 and one built for v2 of the
// order schema exchange events both ways; each reads as its own version.
func TestReaderSchema(t *testing.T) {
	cl, _ := newRegistry(t)
	ctx := context.Background()
	formats := []struct {
		name   string
		typ    sr.SchemaType
		v1, v2 string
	}{
		{"avro", sr.TypeAvro,
			`{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"qty","type":"long"}]}`,
			`{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"qty","type":"long"},{"name":"currency","type":"string","default":"EUR"}]}`},
		{"json", sr.TypeJSON,
			`{"type":"object","additionalProperties":false,"properties":{"id":{"type":"string"},"qty":{"type":"integer"}}}`,
			`{"type":"object","additionalProperties":false,"properties":{"id":{"type":"string"},"qty":{"type":"integer"},"currency":{"type":"string","default":"EUR"}}}`},
	}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			topic := "orders-" + f.name
			v1 := srcodec.AutoRegister(cl, sr.Schema{Type: f.typ, Schema: f.v1})
			v2 := srcodec.AutoRegister(cl, sr.Schema{Type: f.typ, Schema: f.v2})
			e1, err := event.Encode(ctx, v1, topic, "/shop", "order.placed", orderV1{ID: "o-1", Qty: 1})
			if err != nil {
				t.Fatal(err)
			}
			e2, err := event.Encode(ctx, v2, topic, "/shop", "order.placed", orderV2{ID: "o-2", Qty: 2, Currency: "USD"})
			if err != nil {
				t.Fatal(err)
			}
			// Readers that have encoded nothing: all they know is their schema.
			r1 := srcodec.UseLatest(cl, f.typ, srcodec.ReaderSchema(sr.Schema{Type: f.typ, Schema: f.v1}))
			r2 := srcodec.AutoRegister(cl, sr.Schema{Type: f.typ, Schema: f.v2})
			if got, err := event.Decode[orderV1](ctx, r1, e1); err != nil || got != (orderV1{"o-1", 1}) {
				t.Errorf("old->old: %+v %v", got, err)
			}
			if got, err := event.Decode[orderV2](ctx, r2, e1); err != nil || got != (orderV2{"o-1", 1, "EUR"}) {
				t.Errorf("old->new: %+v %v, want v2's default EUR", got, err)
			}
			if got, err := event.Decode[orderV1](ctx, r1, e2); err != nil || got != (orderV1{"o-2", 2}) {
				t.Errorf("new->old: %+v %v", got, err)
			}
			if got, err := event.Decode[orderV2](ctx, r2, e2); err != nil || got != (orderV2{"o-2", 2, "USD"}) {
				t.Errorf("new->new: %+v %v", got, err)
			}
		})
	}
}

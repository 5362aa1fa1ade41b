package serde_test

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/registry/serde"
)

// A v2 reader reads v1 data: the field v1 lacks takes v2's default.
func ExampleDecoder() {
	b, _ := heraldtest.Start(heraldtest.WithDurability("none"), heraldtest.WithRegistry())
	defer b.Close()
	cl, _ := sr.NewClient(sr.URLs(b.RegistryURL()))
	ctx := context.Background()
	s := serde.New(cl)

	const v1 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}`
	const v2 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},
		{"name":"currency","type":"string","default":"EUR"}]}`
	type OrderV1 struct {
		ID string `avro:"id"`
	}
	type OrderV2 struct {
		ID       string `avro:"id"`
		Currency string `avro:"currency"`
	}

	enc, _ := s.Encoder(ctx, "orders-value", sr.Schema{Schema: v1})
	data, _ := enc.Encode(OrderV1{ID: "o-1"})

	dec, _ := s.Decoder(ctx, sr.Schema{Schema: v2})
	var o OrderV2
	err := dec.Decode(ctx, data, &o)
	fmt.Println(o.ID, o.Currency, err)
	// Output: o-1 EUR <nil>
}

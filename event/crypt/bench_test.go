package crypt_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/event/crypt"
)

// benchOrder is a typical event payload: its JSON is about 1 KiB.
type benchOrder struct {
	ID       string            `json:"id"`
	Customer string            `json:"customer"`
	Email    string            `json:"email"`
	Address  string            `json:"address"`
	Lines    []benchLine       `json:"lines"`
	Total    float64           `json:"total"`
	Currency string            `json:"currency"`
	Tags     map[string]string `json:"tags"`
	Note     string            `json:"note"`
}

type benchLine struct {
	SKU   string  `json:"sku"`
	Name  string  `json:"name"`
	Qty   int     `json:"qty"`
	Price float64 `json:"price"`
}

func newBenchOrder() benchOrder {
	o := benchOrder{ID: "ord-000042", Customer: "cust-1234", Email: "someone@example.com",
		Address: "12 Long Street, Apartment 4B, 75011 Paris, France", Total: 1234.5, Currency: "EUR",
		Tags: map[string]string{"channel": "web", "campaign": "spring-sale", "priority": "normal"}}
	for i := range 8 {
		o.Lines = append(o.Lines, benchLine{SKU: fmt.Sprintf("SKU-%06d", i), Name: "A product with a fairly descriptive name", Qty: i + 1, Price: 9.99 * float64(i+1)})
	}
	o.Note = strings.Repeat("x", 1024-jsonLen(o))
	return o
}

func jsonLen(v any) int {
	enc, _ := event.JSON.Encode(context.Background(), "", "", v)
	return len(enc.Data)
}

// BenchmarkCodec is encode then decode of one ~1 KiB JSON event: plain
// JSON (the baseline), the encrypting codec with one key and with a key
// per subject over 1000 subjects (DEKs cached), and with a DEK per event
// (KeyTTL 1ns: a keyring wrap and unwrap per event), the design the
// package does not use.
func BenchmarkCodec(b *testing.B) {
	kr, _ := newKeyring(b)
	o := newBenchOrder()
	size := int64(jsonLen(o))
	for _, bc := range []struct {
		name     string
		cfg      *crypt.Config
		subjects int
	}{
		{"json", nil, 1},
		{"crypt", &crypt.Config{}, 1},
		{"crypt-1000-subjects", &crypt.Config{KeyID: crypt.BySubject("c/")}, 1000},
		{"crypt-dek-per-event", &crypt.Config{KeyTTL: time.Nanosecond}, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var c event.Codec = event.JSON
			if bc.cfg != nil {
				c = newCodec(b, kr, *bc.cfg)
			}
			evs := make([]event.Event, bc.subjects)
			for i := range evs {
				evs[i] = event.New("/shop", "order.placed", nil)
				evs[i].Subject = fmt.Sprintf("s-%d", i)
			}
			ctx := context.Background()
			for _, e := range evs { // keys made before the clock runs
				if _, err := event.EncodeEvent(ctx, c, "orders", e, o); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(size)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				e, err := event.EncodeEvent(ctx, c, "orders", evs[i%len(evs)], o)
				if err != nil {
					b.Fatal(err)
				}
				var got benchOrder
				if err := c.Decode(ctx, e, &got); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

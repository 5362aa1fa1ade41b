package event_test

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/event"
)

func ExampleEvent_Headers() {
	e := event.Event{
		ID: "0190f0c2-7a1e-7c3b-9a55-3c1d2e4f5a6b", Source: "/orders", Type: "order.created",
		Time:            time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC),
		DataContentType: "application/json",
		CorrelationID:   "0190f0c2-7a1e-7c3b-9a55-3c1d2e4f5a6b",
	}
	for _, h := range e.Headers() {
		fmt.Printf("%s: %s\n", h.Key, h.Value)
	}
	// Output:
	// ce_specversion: 1.0
	// ce_id: 0190f0c2-7a1e-7c3b-9a55-3c1d2e4f5a6b
	// ce_source: /orders
	// ce_type: order.created
	// ce_time: 2024-07-01T12:00:00Z
	// content-type: application/json
	// ce_correlationid: 0190f0c2-7a1e-7c3b-9a55-3c1d2e4f5a6b
}

func ExampleFromRecord() {
	in := event.New("/orders", "order.created", []byte(`{"id":"42"}`))
	in.Key = "42"
	rec := in.Record("orders") // produce this with kgo

	out, err := event.FromRecord(rec) // on the consuming side
	fmt.Println(out.Type, out.Key, string(out.Data), out.ID == in.ID, err)
	// Output: order.created 42 {"id":"42"} true <nil>
}

func ExampleEncode() {
	type Order struct {
		ID    string `json:"id"`
		Total int    `json:"total"`
	}
	ctx := context.Background()
	e, _ := event.Encode(ctx, event.JSON, "orders", "/orders", "order.created", Order{ID: "42", Total: 99})
	o, _ := event.Decode[Order](ctx, event.JSON, e)
	fmt.Println(e.DataContentType, string(e.Data), o.Total)
	// Output: application/json {"id":"42","total":99} 99
}

func ExampleLink() {
	placed := event.Link(context.Background(), event.New("/orders", "order.placed", nil))

	// Inside a handler of "order.placed", the context carries it.
	ctx := event.NewContext(context.Background(), placed)
	paid := event.Link(ctx, event.New("/payments", "payment.taken", nil))

	fmt.Println(paid.CorrelationID == placed.ID, paid.CausationID == placed.ID)
	// Output: true true
}

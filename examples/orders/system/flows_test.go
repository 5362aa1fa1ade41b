package system_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/examples/orders/system"
)

// flowTypes is the set of event types an order's flow must have, by how
// it ended, what was planted in it, and the saga style.
func flowTypes(status string, kind system.Kind, mode shop.SagaMode) []string {
	var ts []string
	orch := mode == shop.Orchestration
	add := func(orchOnly bool, types ...string) {
		if !orchOnly || orch {
			ts = append(ts, types...)
		}
	}
	add(false, shop.OrderPlacedType, shop.OrderStatusType)
	add(true, shop.ReserveStockCommand)
	switch status {
	case shop.StatusShipped:
		add(false, shop.StockReservedType, shop.PaymentChargedType, shop.OrderPaidType, shop.ShipmentShippedType, shop.OrderShippedType)
		add(true, shop.ChargeCommand, shop.ShipCommand)
	case shop.StatusCancelled:
		if kind == system.Unpaid {
			// No payment answer; the cancellation releases the stock, and
			// the aborted saga also voids the pending charge.
			add(false, shop.StockReservedType, shop.StockReleasedType, shop.OrderCancelledType)
			add(true, shop.ChargeCommand, shop.ReleaseStockCommand, shop.RefundCommand, shop.PaymentRefundedReply)
			break
		}
		add(false, shop.StockReservedType, shop.PaymentDeclinedType, shop.StockReleasedType, shop.OrderCancelledType)
		add(true, shop.ChargeCommand, shop.ReleaseStockCommand)
	case shop.StatusRejected:
		add(false, shop.StockUnavailableType, shop.OrderRejectedType)
	}
	slices.Sort(ts)
	return ts
}

// flow is what the topics hold of one correlation id.
type flow struct {
	types  map[string]bool
	ids    map[string]bool
	causes map[string]string // event id -> causation id
}

// checkFlows reads every topic and checks that each order's flow, found
// by its correlation id alone, has the events its ending requires, and
// that every causation id names an event of the same flow: the trace a
// console would draw is whole.
func checkFlows(t *testing.T, ctx context.Context, sys *system.System, mode shop.SagaMode, placed []system.Placed, status map[string]string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(sys.Brokers...), kgo.ConsumeTopics(shop.Topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	flows := map[string]*flow{}
	incomplete := func() []string {
		var bad []string
		for _, p := range placed {
			f := flows[p.Correlation]
			wantTs := flowTypes(status[p.OrderID], p.Kind, mode)
			if f == nil || !slices.Equal(slices.Sorted(maps.Keys(f.types)), wantTs) {
				bad = append(bad, p.OrderID)
			}
		}
		return bad
	}
	deadline := time.Now().Add(time.Minute)
	for bad := incomplete(); len(bad) > 0; bad = incomplete() {
		if time.Now().After(deadline) {
			p := placedOf(placed, bad[0])
			f := flows[p.Correlation]
			var got []string
			if f != nil {
				got = slices.Sorted(maps.Keys(f.types))
			}
			t.Fatalf("%d flows incomplete; order %s (%s, %s): types %v, want %v", len(bad), bad[0], p.Kind, status[bad[0]], got, flowTypes(status[bad[0]], p.Kind, mode))
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) { addToFlow(flows, r) })
		cancel()
	}
	for corr, f := range flows {
		for id, cause := range f.causes {
			if cause != "" && !f.ids[cause] {
				t.Errorf("flow %s: event %s names cause %s, which is not in the flow", corr, id, cause)
			}
		}
	}
}

func addToFlow(flows map[string]*flow, r *kgo.Record) {
	e, err := event.FromRecord(r)
	if err != nil || e.CorrelationID == "" {
		return
	}
	f := flows[e.CorrelationID]
	if f == nil {
		f = &flow{types: map[string]bool{}, ids: map[string]bool{}, causes: map[string]string{}}
		flows[e.CorrelationID] = f
	}
	f.types[e.Type], f.ids[e.ID], f.causes[e.ID] = true, true, e.CausationID
}

func placedOf(placed []system.Placed, id string) system.Placed {
	for _, p := range placed {
		if p.OrderID == id {
			return p
		}
	}
	return system.Placed{}
}

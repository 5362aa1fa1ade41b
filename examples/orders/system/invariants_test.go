package system_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/examples/orders/inventory"
	"github.com/heraldhq/herald/examples/orders/orders"
	"github.com/heraldhq/herald/examples/orders/payment"
	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/examples/orders/system"
	"github.com/heraldhq/herald/saga"
)

// waitAllEnded polls the read model until every placed order is in a
// final status and the projection has caught up with the store.
func waitAllEnded(t *testing.T, sys *system.System, placed []system.Placed) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for {
		select {
		case err := <-sys.Err():
			t.Fatalf("a service stopped: %v", err)
		default:
		}
		views, err := sys.Orders.Views(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]orders.View{}
		for _, v := range views {
			byID[v.OrderID] = v
		}
		open := 0
		for _, p := range placed {
			if !shop.Final(byID[p.OrderID].Status) {
				open++
				last = fmt.Sprintf("%s (%s) is %q", p.OrderID, p.Kind, byID[p.OrderID].Status)
			}
		}
		lag, err := sys.Orders.Lag(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if open == 0 && lag == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d orders not ended after 3 minutes (read model lag %d), e.g. %s", open, len(placed), lag, last)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
}

// waitUnpaidPending waits until every planted unpaid order has reached
// payment, whose charge is pending, and checks that it is still placed.
func waitUnpaidPending(t *testing.T, sys *system.System, placed []system.Placed) {
	t.Helper()
	ctx := context.Background()
	poll(t, time.Minute, func() error {
		charges, err := sys.Payment.Charges(ctx)
		if err != nil {
			return err
		}
		for _, p := range placed {
			if p.Kind != system.Unpaid {
				continue
			}
			if v := viewOf(t, sys, p.OrderID); v.Status != shop.StatusPlaced {
				t.Fatalf("unpaid order %s is %s (%s) before its timeout", p.OrderID, v.Status, v.Reason)
			}
			if c := charges[p.OrderID]; c.Status != payment.Pending {
				return fmt.Errorf("unpaid order %s: charge %q, want pending", p.OrderID, c.Status)
			}
		}
		return nil
	})
}

// waitFraudCaughtUp waits until the fraud service has committed its
// group's offsets up to the end of the orders topic: it has seen every
// order's events. Its unpaid rule's clock must move only after that, or
// an order whose later events the service has not read yet looks unpaid.
func waitFraudCaughtUp(t *testing.T, sys *system.System) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(sys.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	poll(t, 2*time.Minute, func() error {
		ends, err := adm.ListEndOffsets(ctx, shop.TopicOrders)
		if err != nil {
			return err
		}
		committed, err := adm.FetchOffsetsForTopics(ctx, "fraud", shop.TopicOrders)
		if err != nil {
			return err
		}
		var behind error
		ends.Each(func(end kadm.ListedOffset) {
			if end.Err != nil {
				behind = end.Err
				return
			}
			if c, ok := committed.Lookup(end.Topic, end.Partition); !ok || c.Err != nil || c.At < end.Offset {
				behind = fmt.Errorf("fraud at %d of %d on %s/%d", c.At, end.Offset, end.Topic, end.Partition)
			}
		})
		return behind
	})
}

// waitSettled waits until what follows an order's end has happened too:
// an order cancelled as unpaid ends before its stock is released and its
// pending charge voided (the cancellation sets those off), and an
// aborted saga compensates after the order ended.
func waitSettled(t *testing.T, sys *system.System, placed []system.Placed) {
	t.Helper()
	ctx := context.Background()
	poll(t, time.Minute, func() error {
		res, err := sys.Inventory.Reservations(ctx)
		if err != nil {
			return err
		}
		charges, err := sys.Payment.Charges(ctx)
		if err != nil {
			return err
		}
		for _, p := range placed {
			if p.Kind != system.Unpaid {
				continue
			}
			if r, c := res[p.OrderID], charges[p.OrderID]; r.Status == inventory.Reserved || c.Status == payment.Pending {
				return fmt.Errorf("unpaid order %s: reservation %q, charge %q", p.OrderID, r.Status, c.Status)
			}
		}
		st := sys.Orders.Sagas()
		if st == nil {
			return nil
		}
		for _, p := range placed {
			in, err := st.Get(ctx, p.Correlation)
			if err != nil {
				return err
			}
			if in.Status != saga.Done && in.Status != saga.Compensated {
				return fmt.Errorf("saga of order %s is %s", p.OrderID, in.Status)
			}
		}
		return nil
	})
}

// want is the status each kind of order must end in.
func want(k system.Kind) []string {
	switch k {
	case system.Declined:
		return []string{shop.StatusCancelled}
	case system.SoldOut:
		return []string{shop.StatusRejected}
	case system.Scarce:
		return []string{shop.StatusShipped, shop.StatusRejected}
	case system.Fraud:
		return []string{shop.StatusShipped} // the rule alerts, it does not stop the order
	case system.Unpaid:
		return []string{shop.StatusCancelled}
	}
	return []string{shop.StatusShipped}
}

// checkInvariants checks every service's data; it returns each order's
// final status.
func checkInvariants(t *testing.T, ctx context.Context, sys *system.System, placed []system.Placed) map[string]string {
	t.Helper()
	views, err := sys.Orders.Views(ctx)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, v := range views {
		status[v.OrderID] = v.Status
	}
	checkOrders(t, ctx, sys, placed, views)
	checkStock(t, ctx, sys, placed, status)
	checkPayments(t, ctx, sys, placed, status)
	checkShipments(t, ctx, sys, status)
	if sys.Orders.Sagas() != nil {
		checkSagas(t, ctx, sys.Orders.Sagas(), placed, status)
	}
	return status
}

// checkOrders: each order ended as its kind says, and the read model
// agrees with the event store (status, correlation id).
func checkOrders(t *testing.T, ctx context.Context, sys *system.System, placed []system.Placed, views []orders.View) {
	t.Helper()
	if len(views) != len(placed) {
		t.Errorf("read model has %d orders, %d were placed", len(views), len(placed))
	}
	byID := map[string]orders.View{}
	for _, v := range views {
		byID[v.OrderID] = v
	}
	counts := map[string]int{}
	for _, p := range placed {
		v := byID[p.OrderID]
		counts[string(p.Kind)+"→"+v.Status]++
		if !slices.Contains(want(p.Kind), v.Status) {
			t.Errorf("order %s (%s) ended %s (%s), want %v", p.OrderID, p.Kind, v.Status, v.Reason, want(p.Kind))
		}
		if shop.IsUnpaidReason(v.Reason) != (p.Kind == system.Unpaid) {
			t.Errorf("order %s (%s) ended %s (%s): only planted unpaid orders must be cancelled as unpaid", p.OrderID, p.Kind, v.Status, v.Reason)
		}
		o, err := sys.Orders.Load(ctx, p.OrderID)
		if err != nil {
			t.Fatal(err)
		}
		if o.Status() != v.Status || o.Placed.Total != v.Total || v.Total != p.Total {
			t.Errorf("order %s: store says %s total %d, read model %s total %d, placed total %d",
				p.OrderID, o.Status(), o.Placed.Total, v.Status, v.Total, p.Total)
		}
		if v.CorrelationID != p.Correlation {
			t.Errorf("order %s: read model correlation %s, request's %s", p.OrderID, v.CorrelationID, p.Correlation)
		}
	}
	t.Logf("outcomes: %v", counts)
	if len(placed) >= 500 && counts[string(system.Scarce)+"→"+shop.StatusRejected] == 0 || counts[string(system.Declined)+"→"+shop.StatusCancelled] == 0 {
		t.Errorf("the mix planted no scarce rejection or no declined card: %v", counts)
	}
}

// checkStock: stock is never negative (a CHECK constraint refuses it, and
// the final levels are checked), every order holds a reservation only if
// it shipped, and each level is its start less what shipped orders took.
func checkStock(t *testing.T, ctx context.Context, sys *system.System, placed []system.Placed, status map[string]string) {
	t.Helper()
	stock, err := sys.Inventory.Stock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sys.Inventory.Reservations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	taken := map[string]int64{}
	for _, p := range placed {
		r := res[p.OrderID]
		held := r.Status == inventory.Reserved
		if held != (status[p.OrderID] == shop.StatusShipped) {
			t.Errorf("order %s is %s and its reservation %q", p.OrderID, status[p.OrderID], r.Status)
		}
		if held {
			for _, it := range r.Items {
				taken[it.SKU] += it.Qty
			}
		}
	}
	for _, prod := range system.Catalog {
		if got := stock[prod.SKU]; got < 0 || got != prod.Stock-taken[prod.SKU] {
			t.Errorf("stock of %s is %d, want %d - %d shipped", prod.SKU, got, prod.Stock, taken[prod.SKU])
		}
	}
}

// checkPayments: shipped orders were charged exactly once, for their
// total; declined ones not charged; no other order reached the provider.
func checkPayments(t *testing.T, ctx context.Context, sys *system.System, placed []system.Placed, status map[string]string) {
	t.Helper()
	charges, err := sys.Payment.Charges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ledger, calls := sys.Provider.Ledger()
	charged := 0
	for _, p := range placed {
		c, l := charges[p.OrderID], ledger[p.OrderID]
		switch status[p.OrderID] {
		case shop.StatusShipped:
			charged++
			if c.Status != payment.Charged || c.Amount != p.Total || l.Declined || l.Refunded || l.Amount != p.Total || l.ID != c.ChargeID {
				t.Errorf("shipped order %s (total %d): charge %+v, provider %+v", p.OrderID, p.Total, c, l)
			}
		case shop.StatusCancelled:
			if p.Kind == system.Unpaid {
				// Its charge stayed pending until the cancellation voided it.
				if c.Status != payment.Void || !l.Pending || !l.Voided || l.Refunded {
					t.Errorf("unpaid order %s: charge %+v, provider %+v", p.OrderID, c, l)
				}
			} else if c.Status != payment.Declined || !l.Declined {
				t.Errorf("cancelled order %s: charge %+v, provider %+v", p.OrderID, c, l)
			}
		default:
			if c.Status != "" || l.ID != "" {
				t.Errorf("%s order %s reached payment: %+v, provider %+v", status[p.OrderID], p.OrderID, c, l)
			}
		}
	}
	if len(ledger) > len(placed) || len(charges) > len(placed) {
		t.Errorf("provider has %d charges and payment %d rows for %d orders", len(ledger), len(charges), len(placed))
	}
	t.Logf("%d orders charged once each; the provider got %d charge requests (its failures retried)", charged, calls)
}

func checkShipments(t *testing.T, ctx context.Context, sys *system.System, status map[string]string) {
	t.Helper()
	ships, err := sys.Shipping.Shipments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	shipped := 0
	for id, s := range status {
		_, ok := ships[id]
		if ok != (s == shop.StatusShipped) {
			t.Errorf("order %s is %s; shipment: %v", id, s, ok)
		}
		if ok {
			shipped++
		}
	}
	if shipped != len(ships) {
		t.Errorf("%d shipments for %d shipped orders", len(ships), shipped)
	}
}

// checkSagas: every orchestrated saga is done (shipped) or compensated.
func checkSagas(t *testing.T, ctx context.Context, st *saga.Store, placed []system.Placed, status map[string]string) {
	t.Helper()
	for _, p := range placed {
		in, err := st.Get(ctx, p.Correlation)
		if err != nil {
			t.Fatal(err)
		}
		wantSt := saga.Compensated
		if status[p.OrderID] == shop.StatusShipped {
			wantSt = saga.Done
		}
		if in.Status != wantSt {
			t.Errorf("saga of %s order %s is %s (%s)", status[p.OrderID], p.OrderID, in.Status, in.Error)
		}
	}
}

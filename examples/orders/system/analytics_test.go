package system_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/examples/orders/system"
)

// checkAnalytics: the analytics' revenue over all its windows is the sum
// of the paid (so shipped) orders' totals, and its quantities per
// product are those of the placed orders.
func checkAnalytics(t *testing.T, ctx context.Context, sys *system.System, placed []system.Placed, status map[string]string) {
	t.Helper()
	var wantCents, wantOrders int64
	wantQty := map[string]int64{}
	for _, p := range placed {
		if status[p.OrderID] == shop.StatusShipped {
			wantCents += p.Total
			wantOrders++
		}
		o, err := sys.Orders.Load(ctx, p.OrderID)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range o.Placed.Items {
			wantQty[it.SKU] += it.Qty
		}
	}
	poll(t, time.Minute, func() error {
		var cents, orders int64
		for _, r := range sys.Analytics.Revenue() {
			cents, orders = cents+r.Cents, orders+r.Orders
		}
		qty := map[string]int64{}
		for _, m := range sys.Analytics.Products() {
			for sku, n := range m {
				qty[sku] += n
			}
		}
		if cents != wantCents || orders != wantOrders || !maps.Equal(qty, wantQty) {
			return fmt.Errorf("analytics: %d paid orders for %d cents, sold %v; want %d for %d, %v", orders, cents, qty, wantOrders, wantCents, wantQty)
		}
		return nil
	})
}

// checkFraud: the fraud rule flags exactly the customers of the planted
// pairs (two cards within the window), and no one else.
func checkFraud(t *testing.T, sys *system.System, placed []system.Placed) {
	t.Helper()
	want := map[string]bool{}
	for _, p := range placed {
		if p.Kind == system.Fraud {
			want[p.Customer] = true
		}
	}
	if len(placed) >= 100 && len(want) == 0 {
		t.Fatalf("the mix planted no fraud in %d orders", len(placed))
	}
	poll(t, time.Minute, func() error {
		got := map[string]bool{}
		for c := range sys.Fraud.Flagged() {
			got[c] = true
		}
		if !maps.Equal(got, want) {
			return fmt.Errorf("fraud flagged %d customers %v, want the %d planted %v", len(got), got, len(want), want)
		}
		return nil
	})
	checkUnpaidRule(t, sys, placed)
}

// checkUnpaidRule: the unpaid rule found exactly the planted unpaid
// orders (checkOrders checks that exactly those were cancelled as
// unpaid, checkStock that their stock is released, checkPayments that
// their pending charges were voided).
func checkUnpaidRule(t *testing.T, sys *system.System, placed []system.Placed) {
	t.Helper()
	want := map[string]bool{}
	for _, p := range placed {
		if p.Kind == system.Unpaid {
			want[p.OrderID] = true
		}
	}
	if len(placed) >= 100 && len(want) == 0 {
		t.Fatalf("the mix planted no unpaid order in %d orders", len(placed))
	}
	got := map[string]bool{}
	for id := range sys.Fraud.Unpaid() {
		got[id] = true
	}
	if !maps.Equal(got, want) {
		t.Errorf("the unpaid rule found %d orders %v, want the %d planted %v", len(got), got, len(want), want)
	}
}

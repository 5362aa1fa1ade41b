package orders

import (
	"errors"
	"testing"

	"github.com/heraldhq/herald/examples/orders/shop"
)

// TestDecision: every command against every state. A command that
// repeats what happened decides nothing (so redeliveries and saga retries
// are safe); one that comes too late is refused.
func TestDecision(t *testing.T) {
	placed := Order{Placed: shop.OrderPlaced{OrderID: "o-1"}}
	paid := placed
	paid.Paid = true
	shipped := paid
	shipped.Shipped = true
	cancelled := placed
	cancelled.Ended = shop.StatusCancelled
	for _, tc := range []struct {
		name    string
		o       Order
		kind    string
		wantTyp string
		wantErr error
	}{
		{"place new", Order{}, "place", shop.OrderPlacedType, nil},
		{"place again", placed, "place", "", nil},
		{"pay unknown", Order{}, "pay", "", ErrNotFound},
		{"pay placed", placed, "pay", shop.OrderPaidType, nil},
		{"pay again", paid, "pay", "", nil},
		{"pay cancelled", cancelled, "pay", "", nil},
		{"ship unpaid", placed, "ship", "", ErrNotPaid},
		{"ship paid", paid, "ship", shop.OrderShippedType, nil},
		{"ship again", shipped, "ship", "", nil},
		{"cancel placed", placed, "cancel", shop.OrderCancelledType, nil},
		{"cancel again", cancelled, "cancel", "", nil},
		{"cancel paid", paid, "cancel", "", ErrTooLate},
		{"reject placed", placed, "reject", shop.OrderRejectedType, nil},
		{"reject cancelled", cancelled, "reject", "", nil},
		{"reject paid", paid, "reject", "", ErrTooLate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ, _, err := decision(tc.o, command{kind: tc.kind, placed: shop.OrderPlaced{OrderID: "o-1"}})
			if typ != tc.wantTyp || !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Errorf("decision = %q, %v; want %q, %v", typ, err, tc.wantTyp, tc.wantErr)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		o    Order
		want string
	}{
		{Order{}, ""},
		{Order{Placed: shop.OrderPlaced{OrderID: "o"}}, shop.StatusPlaced},
		{Order{Placed: shop.OrderPlaced{OrderID: "o"}, Paid: true}, shop.StatusPaid},
		{Order{Placed: shop.OrderPlaced{OrderID: "o"}, Paid: true, Shipped: true}, shop.StatusShipped},
		{Order{Placed: shop.OrderPlaced{OrderID: "o"}, Ended: shop.StatusRejected}, shop.StatusRejected},
	} {
		if got := tc.o.Status(); got != tc.want {
			t.Errorf("%+v: status %q, want %q", tc.o, got, tc.want)
		}
	}
}

package system_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/examples/orders/inventory"
	"github.com/heraldhq/herald/examples/orders/payment"
	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/examples/orders/system"
)

// TestUnpaidOrder: on the fraud service's wall clock (its ticks move
// stream time while no other order comes), an order whose charge stays
// pending is cancelled as unpaid once the timeout passed, in both saga
// styles, through the orders service's normal cancellation: its stock is
// released and its pending charge voided. An order paid in time is not
// touched. (The end-to-end test plants unpaid orders amid its traffic
// with a clock it moves itself.)
func TestUnpaidOrder(t *testing.T) {
	const timeout = 3 * time.Second
	for _, mode := range []shop.SagaMode{shop.Choreography, shop.Orchestration} {
		t.Run(string(mode), func(t *testing.T) {
			sys, err := system.Start(context.Background(), system.Config{Saga: mode, Durability: "none", DataDir: t.TempDir(),
				UnpaidTimeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sys.Close() })
			place := func(card string) string {
				code, m := call(t, "POST", sys.OrdersURL+"/orders", `{"customer":"u-1","card":"`+card+`","items":[{"sku":"teapot","qty":2}]}`)
				if code != http.StatusCreated {
					t.Fatalf("place: %d %v", code, m)
				}
				return m["order_id"].(string)
			}
			start := time.Now()
			unpaid, paid := place(payment.PendingCard), place(system.CardVisa)
			ctx := context.Background()
			poll(t, 2*time.Minute, func() error {
				res, err := sys.Inventory.Reservations(ctx)
				stock, err2 := sys.Inventory.Stock(ctx)
				charges, err3 := sys.Payment.Charges(ctx)
				ledger, _ := sys.Provider.Ledger()
				v := viewOf(t, sys, unpaid)
				switch {
				case errors.Join(err, err2, err3) != nil:
					return errors.Join(err, err2, err3)
				case v.Status != shop.StatusCancelled:
					return fmt.Errorf("unpaid order is %s", v.Status)
				case !shop.IsUnpaidReason(v.Reason):
					t.Fatalf("unpaid order cancelled for %q", v.Reason)
				case res[unpaid].Status != inventory.Released || stock["teapot"] != 40-2:
					return fmt.Errorf("reservation %+v, teapots %d (the paid order holds 2)", res[unpaid], stock["teapot"])
				case charges[unpaid].Status != payment.Void || !ledger[unpaid].Voided:
					return fmt.Errorf("charge %+v, provider %+v", charges[unpaid], ledger[unpaid])
				}
				return nil
			})
			if waited := time.Since(start); waited < timeout {
				t.Errorf("cancelled %v after placing, before the %v timeout", waited, timeout)
			}
			poll(t, time.Minute, func() error {
				if v := viewOf(t, sys, paid); v.Status != shop.StatusShipped {
					return fmt.Errorf("paid order is %s (%s), want shipped", v.Status, v.Reason)
				}
				return nil
			})
			if got := sys.Fraud.Unpaid(); len(got) != 1 || got[unpaid].OrderID != unpaid {
				t.Errorf("the unpaid rule found %v, want only %s", got, unpaid)
			}
		})
	}
}

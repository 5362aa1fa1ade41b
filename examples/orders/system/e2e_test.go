package system_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/examples/orders/system"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// e2eOrders is how many orders each end-to-end run places:
// HERALD_ORDERS_E2E_N, default 1000, or 200 under the race detector (so
// that make test stays within its time; make test-orders runs 1000 with
// it).
func e2eOrders(t *testing.T) int {
	n := 1000
	if raceDetector {
		n = 200
	}
	if s := os.Getenv("HERALD_ORDERS_E2E_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("HERALD_ORDERS_E2E_N: %v", err)
		}
	}
	return n
}

// TestEndToEnd runs the whole system on a real broker and registry, with
// each database and each saga style, places orders with a fixed seeded
// failure mix, waits for every order to end, and checks the invariants.
func TestEndToEnd(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		for _, mode := range []shop.SagaMode{shop.Choreography, shop.Orchestration} {
			t.Run(db+"/"+string(mode), func(t *testing.T) {
				cfg := system.Config{Saga: mode, Durability: "none", PaymentLatency: time.Millisecond,
					PaymentFailureRate: 0.05, Seed: 7, DataDir: t.TempDir(), UnpaidTimeout: unpaidTimeout, ManualFraudClock: true,
					OrderPlacedV2After: e2eOrders(t) / 2}
				if db == "postgres" {
					cfg.Postgres, cfg.Namespace = pubsubtest.PostgresDSN(t), pubsubtest.UniqueName("orders")
					t.Cleanup(func() { dropSchemas(t, cfg) })
				}
				runEndToEnd(t, cfg, e2eOrders(t))
			})
		}
	}
}

// unpaidTimeout is the fraud service's unpaid timeout in the end-to-end
// runs, whose fraud clock the test moves (system.Config.ManualFraudClock):
// long enough that no order, however slow the machine, times out before
// the test moves the clock past it, once every other order has ended.
const unpaidTimeout = time.Hour

func runEndToEnd(t *testing.T, cfg system.Config, n int) {
	ctx := context.Background()
	start := time.Now()
	sys, err := system.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	var (
		mu     sync.Mutex
		placed []system.Placed
	)
	mix := system.DefaultMix
	mix.Fraud = 0.03  // some pairs even in a short run
	mix.Unpaid = 0.03 // and some unpaid orders
	gen := system.Generator{URL: sys.OrdersURL, Rate: 400, Mix: mix, Seed: 42}
	if err := gen.Run(ctx, n, func(p system.Placed) { mu.Lock(); placed = append(placed, p); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	t.Logf("placed %d orders in %v", len(placed), time.Since(start))
	// Every order but the planted unpaid ones ends; those wait, their
	// charges pending, until the unpaid rule's clock passes their
	// deadline, and then they are cancelled too.
	waitAllEnded(t, sys, slices.DeleteFunc(slices.Clone(placed), func(p system.Placed) bool { return p.Kind == system.Unpaid }))
	waitUnpaidPending(t, sys, placed)
	if err := sys.Fraud.Tick(ctx, time.Now().Add(unpaidTimeout+time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitAllEnded(t, sys, placed)
	waitSettled(t, sys, placed)
	t.Logf("all ended after %v", time.Since(start))
	status := checkInvariants(t, ctx, sys, placed)
	checkFlows(t, ctx, sys, cfg.Saga, placed, status)
	checkAnalytics(t, ctx, sys, placed, status)
	checkFraud(t, sys, placed)
	checkSchemaEvolution(t, ctx, sys, placed, status, cfg.OrderPlacedV2After)
}

func dropSchemas(t *testing.T, cfg system.Config) {
	db, err := shop.DBConfig{Postgres: cfg.Postgres, Namespace: cfg.Namespace}.Open(context.Background(), "cleanup")
	if err != nil {
		t.Errorf("drop schemas: %v", err)
		return
	}
	defer db.Close()
	for _, s := range append(system.Services, "orders_saga", "cleanup") {
		if _, err := db.SQL.Exec(fmt.Sprintf("DROP SCHEMA IF EXISTS %s_%s CASCADE", cfg.Namespace, s)); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	}
}

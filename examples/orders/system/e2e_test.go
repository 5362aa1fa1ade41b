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
	return envOr(t, "HERALD_ORDERS_E2E_N", n, strconv.Atoi)
}

// envOr returns the environment variable name as parse reads it, or def
// when the variable is unset or empty; a value parse rejects fails the
// test.
func envOr[T any](t *testing.T, name string, def T, parse func(string) (T, error)) T {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := parse(s)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// TestEndToEnd runs the whole system on a real broker and registry, with
// each database and each saga style, places orders with a fixed seeded
// failure mix, waits for every order to end, and checks the invariants.
func TestEndToEnd(t *testing.T) {
	e2eMatrix(t, "orders", nil, func(t *testing.T, cfg system.Config) {
		n := e2eOrders(t)
		cfg.OrderPlacedV2After = n / 2
		runEndToEnd(t, cfg, n)
	})
}

// e2eMatrix runs run as a subtest "db/mode" for each database (sqlite,
// postgres) and each saga style, with e2eConfig's configuration for the
// pair, leaving out the pairs skip (if not nil) says to.
func e2eMatrix(t *testing.T, namespace string, skip func(db string, mode shop.SagaMode) bool, run func(t *testing.T, cfg system.Config)) {
	for _, db := range []string{"sqlite", "postgres"} {
		for _, mode := range []shop.SagaMode{shop.Choreography, shop.Orchestration} {
			if skip != nil && skip(db, mode) {
				continue
			}
			t.Run(db+"/"+string(mode), func(t *testing.T) { run(t, e2eConfig(t, db, mode, namespace)) })
		}
	}
}

// e2eConfig is the system's configuration in the end-to-end runs on db
// ("sqlite" or "postgres") in saga style mode: no fsync, a seeded 5%
// payment failure rate, and a fraud clock the test moves. On PostgreSQL
// the services' schemas share a namespace unique to the run that begins
// with namespace, and are dropped when the test ends.
func e2eConfig(t *testing.T, db string, mode shop.SagaMode, namespace string) system.Config {
	cfg := system.Config{Saga: mode, Durability: "none", PaymentLatency: time.Millisecond,
		PaymentFailureRate: 0.05, Seed: 7, DataDir: t.TempDir(), UnpaidTimeout: unpaidTimeout, ManualFraudClock: true}
	if db == "postgres" {
		cfg.Postgres, cfg.Namespace = pubsubtest.PostgresDSN(t), pubsubtest.UniqueName(namespace)
		t.Cleanup(func() { dropSchemas(t, cfg) })
	}
	return cfg
}

// unpaidTimeout is the fraud service's unpaid timeout in the end-to-end
// runs, whose fraud clock the test moves (system.Config.ManualFraudClock):
// long enough that no order, however slow the machine, times out before
// the test moves the clock past it, once every other order has ended.
const unpaidTimeout = time.Hour

func runEndToEnd(t *testing.T, cfg system.Config, n int) {
	ctx := context.Background()
	start := time.Now()
	sys := startSystem(t, ctx, cfg)
	mix := system.DefaultMix
	mix.Fraud = 0.03  // some pairs even in a short run
	mix.Unpaid = 0.03 // and some unpaid orders
	placed := placeOrders(t, ctx, sys, 400, mix, n)
	t.Logf("placed %d orders in %v", len(placed), time.Since(start))
	endAll(t, ctx, sys, placed, start)
	status := checkEnded(t, ctx, sys, cfg.Saga, placed)
	checkSchemaEvolution(t, ctx, sys, placed, status, cfg.OrderPlacedV2After)
}

// startSystem starts the system with cfg and closes it when the test
// ends.
func startSystem(t *testing.T, ctx context.Context, cfg system.Config) *system.System {
	t.Helper()
	sys, err := system.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return sys
}

// placeOrders places n orders of the mix at rate orders/s (seed 42) and
// returns them.
func placeOrders(t *testing.T, ctx context.Context, sys *system.System, rate float64, mix system.Mix, n int) []system.Placed {
	t.Helper()
	var (
		mu     sync.Mutex
		placed []system.Placed
	)
	gen := system.Generator{URL: sys.OrdersURL, Rate: rate, Mix: mix, Seed: 42}
	if err := gen.Run(ctx, n, func(p system.Placed) { mu.Lock(); placed = append(placed, p); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	return placed
}

// endAll waits until every placed order ended and settled. Every order
// but the planted unpaid ones ends; those wait, their charges pending,
// until the unpaid rule's clock passes their deadline, and then they are
// cancelled too.
func endAll(t *testing.T, ctx context.Context, sys *system.System, placed []system.Placed, start time.Time) {
	t.Helper()
	waitAllEnded(t, sys, slices.DeleteFunc(slices.Clone(placed), func(p system.Placed) bool { return p.Kind == system.Unpaid }))
	waitUnpaidPending(t, sys, placed)
	waitFraudCaughtUp(t, sys)
	if err := sys.Fraud.Tick(ctx, time.Now().Add(unpaidTimeout+time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitAllEnded(t, sys, placed)
	waitSettled(t, sys, placed)
	t.Logf("all ended after %v", time.Since(start))
}

// checkEnded checks what holds once every placed order ended: the
// invariants, the saga flows of style mode, the analytics and the fraud
// pairs. It returns each order's status.
func checkEnded(t *testing.T, ctx context.Context, sys *system.System, mode shop.SagaMode, placed []system.Placed) map[string]string {
	t.Helper()
	status := checkInvariants(t, ctx, sys, placed)
	checkFlows(t, ctx, sys, mode, placed, status)
	checkAnalytics(t, ctx, sys, placed, status)
	checkFraud(t, sys, placed)
	return status
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

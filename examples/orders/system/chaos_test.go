package system_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/examples/orders/system"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// chaosDown is how long TestEndToEndChaos keeps payment down:
// HERALD_ORDERS_CHAOS_DOWN, default 3s (the demo's is 30s).
func chaosDown(t *testing.T) time.Duration {
	d := 3 * time.Second
	if s := os.Getenv("HERALD_ORDERS_CHAOS_DOWN"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			t.Fatalf("HERALD_ORDERS_CHAOS_DOWN: %v", err)
		}
	}
	return d
}

// TestEndToEndChaos is TestEndToEnd with the chaos mode on while the
// orders are placed: payment is killed and started again, the broker
// restarts, and a share of every topic's events is delivered twice until
// every order ended. Every invariant of TestEndToEnd holds, and more: the
// orders placed while payment was down were accepted and paid after it
// came back.
//
// Under the race detector (make test) it runs SQLite with choreography
// and PostgreSQL with orchestration, 200 orders each; make
// test-orders-full runs each database with each saga style, 1,000 orders.
func TestEndToEndChaos(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		for _, mode := range []shop.SagaMode{shop.Choreography, shop.Orchestration} {
			if raceDetector && os.Getenv("HERALD_ORDERS_E2E_N") == "" && (db == "sqlite") != (mode == shop.Choreography) {
				continue // within make test's time: each database once, each saga style once
			}
			t.Run(db+"/"+string(mode), func(t *testing.T) {
				cfg := system.Config{Saga: mode, Durability: "none", PaymentLatency: time.Millisecond,
					PaymentFailureRate: 0.05, Seed: 7, DataDir: t.TempDir(), UnpaidTimeout: unpaidTimeout, ManualFraudClock: true}
				if db == "postgres" {
					cfg.Postgres, cfg.Namespace = pubsubtest.PostgresDSN(t), pubsubtest.UniqueName("chaos")
					t.Cleanup(func() { dropSchemas(t, cfg) })
				}
				runChaos(t, cfg, e2eOrders(t), chaosDown(t))
			})
		}
	}
}

func runChaos(t *testing.T, cfg system.Config, n int, down time.Duration) {
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
	pause := down / 3
	logf := func(l string) { t.Log(l) }
	chaos := system.Chaos{Service: "payment", Down: down, RestartBroker: true, Pause: pause, Rounds: 1, Log: logf}
	// The duplicates go on until every order ended.
	dups := system.Chaos{Duplicates: 0.2, Pause: pause, Seed: 3, Log: logf}
	var (
		rep, dupRep      system.ChaosReport
		chaosErr, dupErr error
		done, dupDone    = make(chan struct{}), make(chan struct{})
		dupCtx, stopDups = context.WithCancel(ctx)
	)
	defer stopDups()
	go func() { defer close(done); rep, chaosErr = chaos.Run(ctx, sys) }()
	go func() { defer close(dupDone); dupRep, dupErr = dups.Run(dupCtx, sys) }()

	// The traffic spans the chaos: the orders come at a rate that places
	// the last of them after the broker's restart.
	span := down + 3*pause
	rate := float64(n) / span.Seconds()
	var (
		mu     sync.Mutex
		placed []system.Placed
	)
	mix := system.DefaultMix
	mix.Fraud = 0.03
	gen := system.Generator{URL: sys.OrdersURL, Rate: rate, Mix: mix, Seed: 42}
	if err := gen.Run(ctx, n, func(p system.Placed) { mu.Lock(); placed = append(placed, p); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	t.Logf("placed %d orders at %.0f/s in %v", len(placed), rate, time.Since(start))
	<-done
	if chaosErr != nil {
		t.Fatal(chaosErr)
	}
	// As in TestEndToEnd: every order but the planted unpaid ones ends;
	// then the unpaid rule's clock passes their deadline.
	waitAllEnded(t, sys, slices.DeleteFunc(slices.Clone(placed), func(p system.Placed) bool { return p.Kind == system.Unpaid }))
	waitUnpaidPending(t, sys, placed)
	if err := sys.Fraud.Tick(ctx, time.Now().Add(unpaidTimeout+time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitAllEnded(t, sys, placed)
	waitSettled(t, sys, placed)
	t.Logf("all ended after %v", time.Since(start))
	stopDups()
	<-dupDone
	if dupErr != nil {
		t.Fatal(dupErr)
	}
	if len(rep.Outages) != 1 || rep.BrokerRestarts != 1 || dupRep.Duplicates == 0 {
		t.Fatalf("chaos did not do it all: %+v, %d duplicates", rep, dupRep.Duplicates)
	}
	checkOutage(t, ctx, sys, rep.Outages[0])
	status := checkInvariants(t, ctx, sys, placed)
	checkFlows(t, ctx, sys, cfg.Saga, placed, status)
	checkAnalytics(t, ctx, sys, placed, status)
	checkFraud(t, sys, placed)
}

// checkOutage: orders were accepted while payment was down, and those
// that were paid were paid after it came back.
func checkOutage(t *testing.T, ctx context.Context, sys *system.System, o system.Outage) {
	t.Helper()
	placedAt, paidAt := map[string]time.Time{}, map[string]time.Time{}
	store := sys.Orders.Store()
	for after := int64(0); ; {
		recs, err := store.ReadAll(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			switch r.Type {
			case shop.OrderPlacedType:
				placedAt[r.Stream] = r.Time
			case shop.OrderPaidType:
				paidAt[r.Stream] = r.Time
			}
			after = r.Position
		}
		if len(recs) < 1000 {
			break
		}
	}
	waited := 0
	for id, p := range placedAt {
		paid, ok := paidAt[id]
		// An order placed just before the kill may have been charged
		// before it; one placed while payment was down cannot have.
		if p.After(o.Killed) && p.Before(o.Back) && ok {
			if paid.Before(o.Back) {
				t.Errorf("order %s was placed at %v and paid at %v, while payment was down (%v to %v)",
					id, p.Format(time.StampMilli), paid.Format(time.StampMilli), o.Killed.Format(time.StampMilli), o.Back.Format(time.StampMilli))
			}
			waited++
		}
	}
	if waited == 0 {
		t.Errorf("no order placed while payment was down (%v to %v) was paid", o.Killed.Format(time.StampMilli), o.Back.Format(time.StampMilli))
	}
	t.Logf("%d orders placed while payment was down were paid after it came back", waited)
}

// TestChaosRejectsUnknownService: the chaos refuses to kill a service it
// cannot start again (orders serves the API), before touching anything.
func TestChaosRejectsUnknownService(t *testing.T) {
	for _, name := range []string{"orders", "analytics", "nope"} {
		_, err := system.Chaos{Service: name, Down: time.Second}.Run(context.Background(), nil)
		if err == nil || !strings.Contains(err.Error(), "cannot kill") {
			t.Errorf("chaos killing %q: err %v, want a refusal", name, err)
		}
	}
}

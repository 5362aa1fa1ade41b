package system_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/examples/orders/system"
)

// chaosDown is how long TestEndToEndChaos keeps payment down:
// HERALD_ORDERS_CHAOS_DOWN, default 3s (the demo's is 30s).
func chaosDown(t *testing.T) time.Duration {
	return envOr(t, "HERALD_ORDERS_CHAOS_DOWN", 3*time.Second, time.ParseDuration)
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
	skip := func(db string, mode shop.SagaMode) bool {
		// Within make test's time: each database once, each saga style once.
		return raceDetector && os.Getenv("HERALD_ORDERS_E2E_N") == "" && (db == "sqlite") != (mode == shop.Choreography)
	}
	e2eMatrix(t, "chaos", skip, func(t *testing.T, cfg system.Config) {
		runChaos(t, cfg, e2eOrders(t), chaosDown(t))
	})
}

func runChaos(t *testing.T, cfg system.Config, n int, down time.Duration) {
	ctx := context.Background()
	start := time.Now()
	sys := startSystem(t, ctx, cfg)
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
	mix := system.DefaultMix
	mix.Fraud = 0.03
	placed := placeOrders(t, ctx, sys, rate, mix, n)
	t.Logf("placed %d orders at %.0f/s in %v", len(placed), rate, time.Since(start))
	<-done
	if chaosErr != nil {
		t.Fatal(chaosErr)
	}
	endAll(t, ctx, sys, placed, start)
	stopDups()
	<-dupDone
	if dupErr != nil {
		t.Fatal(dupErr)
	}
	if len(rep.Outages) != 1 || rep.BrokerRestarts != 1 || dupRep.Duplicates == 0 {
		t.Fatalf("chaos did not do it all: %+v, %d duplicates", rep, dupRep.Duplicates)
	}
	checkOutage(t, ctx, sys, rep.Outages[0])
	checkEnded(t, ctx, sys, cfg.Saga, placed)
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

package system_test

import (
	"context"
	"os"
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
// restarts, and a share of every topic's events is delivered twice. Every
// invariant of TestEndToEnd holds, and more: the orders placed while
// payment was down were accepted and paid after it came back.
func TestEndToEndChaos(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		for _, mode := range []shop.SagaMode{shop.Choreography, shop.Orchestration} {
			t.Run(db+"/"+string(mode), func(t *testing.T) {
				cfg := system.Config{Saga: mode, Durability: "none", PaymentLatency: time.Millisecond,
					PaymentFailureRate: 0.05, Seed: 7, DataDir: t.TempDir()}
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
	chaos := system.Chaos{Service: "payment", Down: down, RestartBroker: true, Duplicates: 0.2, Pause: pause,
		Rounds: 1, Seed: 3, Log: func(l string) { t.Log(l) }}
	var (
		rep      system.ChaosReport
		chaosErr error
		done     = make(chan struct{})
	)
	go func() { defer close(done); rep, chaosErr = chaos.Run(ctx, sys) }()

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
	dbg := make(chan struct{})
	go func() {
		for {
			select {
			case <-dbg:
				return
			case <-time.After(5 * time.Second):
			}
			views, _ := sys.Orders.Views(ctx)
			st := map[string]int{}
			for _, v := range views {
				st[v.Status]++
			}
			t.Logf("DEBUG %v", st)
		}
	}()
	waitAllEnded(t, sys, placed)
	close(dbg)
	t.Logf("all ended after %v", time.Since(start))

	if len(rep.Outages) != 1 || rep.BrokerRestarts != 1 || rep.Duplicates == 0 {
		t.Fatalf("chaos did not do it all: %+v", rep)
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
	if o.PlacedMeanwhile == 0 {
		t.Fatalf("no order was placed while %s was down", o.Service)
	}
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
		t.Errorf("none of the %d orders placed while payment was down was paid", o.PlacedMeanwhile)
	}
	t.Logf("%d orders placed while payment was down were paid after it came back", waited)
}

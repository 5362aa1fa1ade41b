package saga_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/sqlite"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/dedup"
	"github.com/heraldhq/herald/saga"
)

// The order saga of the seeds on an embedded broker and SQLite: o-1 is
// placed, reserved, charged and shipped; o-2's payment is declined, so its
// stock is released and the order cancelled.
func Example_orderSaga() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tp := topics{Inventory: "inventory", Payments: "payments", Shipping: "shipping", Replies: "order-replies"}
	b, _ := heraldtest.Start(heraldtest.WithDurability("none"),
		heraldtest.WithTopics(1, tp.Inventory, tp.Payments, tp.Shipping, tp.Replies))
	defer b.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The saga's state and its commands share one SQLite database.
	dir, _ := os.MkdirTemp("", "saga-example")
	defer os.RemoveAll(dir)
	db, _ := sql.Open("sqlite", "file:"+filepath.Join(dir, "orders.db")+
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	defer db.Close()
	ob, _ := sqlite.New(ctx, db, sqlite.Config{})
	store, _ := saga.NewStore(ctx, db, ob, saga.StoreConfig{Dialect: saga.SQLite})

	// The relay publishes the commands; the services answer them.
	cl, _ := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	defer cl.Close()
	relay, _ := outbox.NewRelay(ob, cl, outbox.RelayConfig{PollInterval: 20 * time.Millisecond, Logger: quiet})
	s := newShop()
	services, _ := s.services([]string{b.Addr()}, "shop", tp, quiet)

	runner, _ := saga.NewRunner(saga.Config{Store: store, Brokers: []string{b.Addr()}, Group: "order-saga",
		ReplyTopics: []string{tp.Replies}, PollInterval: 50 * time.Millisecond, Logger: quiet,
		ClientOpts: []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond)}})
	if err := runner.Register(orderSaga(s, tp, 10*time.Second)); err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan struct{}, 3)
	for _, run := range []func(context.Context) error{relay.Run, services.Run, runner.Run} {
		go func() { _ = run(ctx); done <- struct{}{} }()
	}

	_, _ = runner.Start(ctx, "order", "o-1", Order{ID: "o-1", Amount: 50})
	_, _ = runner.Start(ctx, "order", "o-2", Order{ID: "o-2", Amount: 500})
	for deadline := time.Now().Add(30 * time.Second); atRest(ctx, store, "o-1", "o-2") != nil && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	for _, id := range []string{"o-1", "o-2"} {
		in, _ := store.Get(ctx, id)
		if in.Error == "" {
			fmt.Println(id, in.Status)
			continue
		}
		fmt.Println(id, in.Status+":", in.Error)
	}
	for _, what := range []string{"placed", "reserved", "charged", "declined", "shipped", "released", "cancelled"} {
		fmt.Println(what, s.orders(what))
	}
	cancel()
	for range 3 {
		<-done
	}
	// Output:
	// o-1 done
	// o-2 compensated: step payment failed: payment.declined
	// placed [o-1 o-2]
	// reserved [o-1 o-2]
	// charged [o-1]
	// declined [o-2]
	// shipped [o-1]
	// released [o-2]
	// cancelled [o-2]
}

// A tracker follows a choreographed process from its events alone.
func ExampleTracker() {
	tr, _ := saga.NewTracker(saga.TrackerConfig{
		Start: []string{"order.placed"}, Advance: []string{"stock.reserved"},
		Complete: []string{"order.shipped"}, Compensate: []string{"payment.declined"},
		Aborted: []string{"order.cancelled"},
	})
	placed := event.New("/orders", "order.placed", nil)
	placed.CorrelationID = "order-42"
	tr.Observe("shop", placed)
	tr.Observe("shop", event.New("/inventory", "stock.reserved", nil).Caused(placed))
	p, _ := tr.Get("order-42")
	fmt.Println(p.ID, p.Status, len(p.Events))
	tr.Observe("shop", event.New("/payments", "payment.declined", nil).Caused(placed))
	p, _ = tr.Get("order-42")
	fmt.Println(p.ID, p.Status, len(p.Events))
	// Output:
	// order-42 running 2
	// order-42 compensating 3
}

// The order process choreographed: each service reacts to the event before
// it, through its outbox; a tracker tells where each order is, from the
// topic alone.
func Example_choreography() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, _ := heraldtest.Start(heraldtest.WithDurability("none"), heraldtest.WithTopics(1, "shop"))
	defer b.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir, _ := os.MkdirTemp("", "saga-choreography")
	defer os.RemoveAll(dir)
	db, _ := sql.Open("sqlite", "file:"+filepath.Join(dir, "shop.db")+
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	defer db.Close()
	ob, _ := sqlite.New(ctx, db, sqlite.Config{})
	cl, _ := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	defer cl.Close()
	relay, _ := outbox.NewRelay(ob, cl, outbox.RelayConfig{PollInterval: 20 * time.Millisecond, Logger: quiet})

	var runs []func(context.Context) error
	for service, react := range choreographed("shop") {
		r, _ := pubsub.NewRouter(pubsub.RouterConfig{Brokers: []string{b.Addr()}, Group: service, Logger: quiet,
			ClientOpts: []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond)}})
		r.Use(dedup.Middleware(dedup.NewMemory(time.Hour)))
		_ = r.Handle("shop", saga.React(db, ob, react))
		runs = append(runs, r.Run)
	}
	tracker, _ := saga.NewTracker(saga.TrackerConfig{
		Start: []string{"order.placed"}, Advance: []string{"stock.reserved", "payment.charged"},
		Complete: []string{"order.shipped"}, Compensate: []string{"payment.declined", "stock.released"},
		Aborted: []string{"order.cancelled"},
	})
	follow, _ := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("shop"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	defer follow.Close()
	runs = append(runs, relay.Run, func(ctx context.Context) error { return tracker.Follow(ctx, follow) })
	done := make(chan struct{}, len(runs))
	for _, run := range runs {
		go func() { _ = run(ctx); done <- struct{}{} }()
	}

	for _, o := range []Order{{ID: "o-1", Amount: 50}, {ID: "o-2", Amount: 500}} {
		data, _ := json.Marshal(o)
		e := event.New("/orders", "order.placed", data)
		e.Key, e.CorrelationID = o.ID, o.ID
		tx, _ := db.BeginTx(ctx, nil)
		_ = outbox.Write(ctx, tx, ob, "shop", e)
		_ = tx.Commit()
	}
	finished := func() bool {
		p1, _ := tracker.Get("o-1")
		p2, _ := tracker.Get("o-2")
		return p1.Status == saga.Done && p2.Status == saga.Compensated
	}
	for deadline := time.Now().Add(30 * time.Second); !finished() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	for _, id := range []string{"o-1", "o-2"} {
		p, _ := tracker.Get(id)
		var types []string
		for _, s := range p.Events {
			types = append(types, s.Type)
		}
		fmt.Println(id, p.Status, types)
	}
	cancel()
	for range runs {
		<-done
	}
	// Output:
	// o-1 done [order.placed stock.reserved payment.charged order.shipped]
	// o-2 compensated [order.placed stock.reserved payment.declined stock.released order.cancelled]
}

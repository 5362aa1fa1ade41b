package saga_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/dedup"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
	"github.com/heraldhq/herald/saga"
)

// choreographed is the order process with no coordinator: each service
// reacts to the event before it on one topic. It returns each service's
// reaction.
func choreographed(topic string) map[string]saga.Reaction {
	next := func(typ string, e event.Event) []saga.Emit {
		n := event.New("/shop", typ, e.Data)
		n.Key = e.Key
		return []saga.Emit{{Topic: topic, Event: n}}
	}
	return map[string]saga.Reaction{
		"inventory": func(_ context.Context, _ *sql.Tx, e event.Event) ([]saga.Emit, error) {
			switch e.Type {
			case "order.placed":
				return next("stock.reserved", e), nil
			case "payment.declined":
				return next("stock.released", e), nil
			}
			return nil, nil
		},
		"payment": func(_ context.Context, _ *sql.Tx, e event.Event) ([]saga.Emit, error) {
			if e.Type != "stock.reserved" {
				return nil, nil
			}
			var o Order
			if err := json.Unmarshal(e.Data, &o); err != nil {
				return nil, pubsub.Permanent(err)
			}
			if o.Amount > 100 {
				return nil, &saga.Failed{Reason: "declined", Compensate: next("payment.declined", e)}
			}
			return next("payment.charged", e), nil
		},
		"shipping": func(_ context.Context, _ *sql.Tx, e event.Event) ([]saga.Emit, error) {
			if e.Type != "payment.charged" {
				return nil, nil
			}
			return next("order.shipped", e), nil
		},
		"orders": func(_ context.Context, _ *sql.Tx, e event.Event) ([]saga.Emit, error) {
			if e.Type != "stock.released" {
				return nil, nil
			}
			return next("order.cancelled", e), nil
		},
	}
}

// TestChoreography runs the order process choreographed on a real broker
// (SQLite outbox): a tracker follows it from the topic alone, by
// correlation id.
func TestChoreography(t *testing.T) {
	ctx := context.Background()
	b := pubsubtest.New(t)
	topic := b.Topic("shop-events", 2)
	be := sqliteBackend(t)
	db, _ := be.open(t)
	relay, err := outbox.NewRelay(be.ob, b.Client(), outbox.RelayConfig{PollInterval: 20 * time.Millisecond, Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	runs := []func(context.Context) error{relay.Run}
	for name, f := range choreographed(topic) {
		r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: b.Seeds, Group: pubsubtest.Group(name), Logger: logger(),
			ClientOpts: []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond)}})
		if err != nil {
			t.Fatal(err)
		}
		r.Use(dedup.Middleware(dedup.NewMemory(time.Hour)))
		if err := r.Handle(topic, saga.React(db, be.ob, f)); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r.Run)
	}
	tracker, err := saga.NewTracker(saga.TrackerConfig{
		Start: []string{"order.placed"}, Advance: []string{"stock.reserved", "payment.charged"},
		Complete: []string{"order.shipped"}, Compensate: []string{"payment.declined", "stock.released"},
		Aborted: []string{"order.cancelled"},
	})
	if err != nil {
		t.Fatal(err)
	}
	follow := b.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	runs = append(runs, func(ctx context.Context) error { return tracker.Follow(ctx, follow) })
	runAll(t, runs...)

	for _, o := range []Order{{ID: "o-1", Amount: 10}, {ID: "o-2", Amount: 500}} {
		data, _ := json.Marshal(o)
		e := event.New("/orders", "order.placed", data)
		e.Key, e.CorrelationID = o.ID, o.ID // "where is order o-1?"
		if err := inTx(db, func(tx *sql.Tx) error { return outbox.Write(ctx, tx, be.ob, topic, e) }); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]struct {
		status saga.Status
		types  string
	}{
		"o-1": {saga.Done, "order.placed stock.reserved payment.charged order.shipped"},
		"o-2": {saga.Compensated, "order.placed stock.reserved payment.declined stock.released order.cancelled"},
	}
	testenv.CheckFor(t, 30*time.Second, func() error {
		for id, w := range want {
			p, ok := tracker.Get(id)
			if !ok || p.Status != w.status {
				return fmt.Errorf("%s: %+v", id, p)
			}
		}
		return nil
	})
	for id, w := range want {
		p, _ := tracker.Get(id)
		var types []string
		for i, s := range p.Events {
			types = append(types, s.Type)
			if i > 0 && s.CausationID != p.Events[i-1].ID {
				t.Fatalf("%s: %s caused by %s, want the event before it (%s)", id, s.Type, s.CausationID, p.Events[i-1].ID)
			}
		}
		if got := strings.Join(types, " "); got != w.types {
			t.Fatalf("%s: events %s, want %s", id, got, w.types)
		}
	}
	if _, ok := tracker.Get("o-9"); ok {
		t.Fatal("tracker knows an order never placed")
	}
}

func inTx(db *sql.DB, f func(*sql.Tx) error) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

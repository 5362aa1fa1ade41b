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
	"github.com/heraldhq/herald/internal/sqlbind"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/dedup"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
	"github.com/heraldhq/herald/saga"
)

// shopOrder is an order of the choreographed shop: Qty widgets for
// Amount; payments decline amounts over 100.
type shopOrder struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
	Qty    int    `json:"qty"`
}

// shopDB is the services' tables in one database (each service owns its
// own: stock and reservations, charges, shipments, orders).
type shopDB struct {
	db       *sql.DB
	postgres bool
	prefix   string
}

func (s shopDB) q(q string) string {
	q = strings.ReplaceAll(q, "%p", s.prefix)
	if s.postgres {
		return sqlbind.Numbered(q)
	}
	return q
}

var shopTables = []string{"_stock", "_reservations", "_charges", "_shipments", "_orders", "_seen"}

func (s shopDB) create(t *testing.T, stock int) {
	t.Helper()
	for _, q := range []string{
		`CREATE TABLE %p_stock (sku TEXT PRIMARY KEY, qty BIGINT NOT NULL)`,
		`CREATE TABLE %p_reservations (order_id TEXT PRIMARY KEY, qty BIGINT NOT NULL)`,
		`CREATE TABLE %p_charges (order_id TEXT PRIMARY KEY, amount BIGINT NOT NULL)`,
		`CREATE TABLE %p_shipments (order_id TEXT PRIMARY KEY)`,
		`CREATE TABLE %p_orders (id TEXT PRIMARY KEY, status TEXT NOT NULL)`,
	} {
		if _, err := s.db.Exec(s.q(q)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.db.Exec(s.q(`INSERT INTO %p_stock (sku, qty) VALUES ('widget', ?)`), stock); err != nil {
		t.Fatal(err)
	}
	if s.postgres {
		t.Cleanup(func() {
			for _, tb := range shopTables {
				s.db.Exec("DROP TABLE IF EXISTS " + s.prefix + tb)
			}
		})
	}
}

// reactions are the services of the choreographed shop, each reacting to
// the events before it on one topic, its change and its events in one
// transaction.
func (s shopDB) reactions(topic string) map[string]saga.Reaction {
	next := func(typ string, e event.Event) []saga.Emit {
		n := event.New("/shop", typ, e.Data)
		n.Key = e.Key
		return []saga.Emit{{Topic: topic, Event: n}}
	}
	exec := func(ctx context.Context, tx *sql.Tx, q string, args ...any) (int64, error) {
		res, err := tx.ExecContext(ctx, s.q(q), args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	order := func(e event.Event) (shopOrder, error) {
		var o shopOrder
		if err := json.Unmarshal(e.Data, &o); err != nil {
			return o, pubsub.Permanent(err)
		}
		return o, nil
	}
	return map[string]saga.Reaction{
		"inventory": func(ctx context.Context, tx *sql.Tx, e event.Event) ([]saga.Emit, error) {
			o, err := order(e)
			if err != nil || (e.Type != "order.placed" && e.Type != "payment.declined") {
				return nil, err
			}
			if e.Type == "payment.declined" {
				n, err := exec(ctx, tx, `DELETE FROM %p_reservations WHERE order_id = ?`, o.ID)
				if err == nil && n == 1 {
					_, err = exec(ctx, tx, `UPDATE %p_stock SET qty = qty + ? WHERE sku = 'widget'`, o.Qty)
				}
				return next("stock.released", e), err
			}
			n, err := exec(ctx, tx, `UPDATE %p_stock SET qty = qty - ? WHERE sku = 'widget' AND qty >= ?`, o.Qty, o.Qty)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				return nil, &saga.Failed{Reason: "out of stock", Compensate: next("stock.unavailable", e)}
			}
			_, err = exec(ctx, tx, `INSERT INTO %p_reservations (order_id, qty) VALUES (?, ?)`, o.ID, o.Qty)
			return next("stock.reserved", e), err
		},
		"payment": func(ctx context.Context, tx *sql.Tx, e event.Event) ([]saga.Emit, error) {
			o, err := order(e)
			if err != nil || e.Type != "stock.reserved" {
				return nil, err
			}
			if _, err := exec(ctx, tx, `INSERT INTO %p_charges (order_id, amount) VALUES (?, ?)`, o.ID, o.Amount); err != nil {
				return nil, err
			}
			if o.Amount > 100 { // the charge above is rolled back
				return nil, &saga.Failed{Reason: "declined", Compensate: next("payment.declined", e)}
			}
			return next("payment.charged", e), nil
		},
		"shipping": func(ctx context.Context, tx *sql.Tx, e event.Event) ([]saga.Emit, error) {
			o, err := order(e)
			if err != nil || e.Type != "payment.charged" {
				return nil, err
			}
			_, err = exec(ctx, tx, `INSERT INTO %p_shipments (order_id) VALUES (?)`, o.ID)
			return next("order.shipped", e), err
		},
		"orders": func(ctx context.Context, tx *sql.Tx, e event.Event) ([]saga.Emit, error) {
			o, err := order(e)
			if err != nil {
				return nil, err
			}
			status, then := map[string]string{"order.shipped": "shipped", "stock.released": "cancelled", "stock.unavailable": "rejected"}[e.Type],
				map[string]string{"stock.released": "order.cancelled", "stock.unavailable": "order.rejected"}[e.Type]
			if status == "" {
				return nil, nil
			}
			if _, err := exec(ctx, tx, `UPDATE %p_orders SET status = ? WHERE id = ?`, status, o.ID); err != nil || then == "" {
				return nil, err
			}
			return next(then, e), nil
		},
	}
}

// place is the orders service taking an order: its row and order.placed,
// whose correlation id is the order's id, in one transaction.
func (s shopDB) place(t *testing.T, ob outbox.Store, topic string, o shopOrder) {
	t.Helper()
	ctx := context.Background()
	data, _ := json.Marshal(o)
	e := event.New("/orders", "order.placed", data)
	e.Key, e.CorrelationID = o.ID, o.ID
	err := inTx(s.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO %p_orders (id, status) VALUES (?, 'placed')`), o.ID); err != nil {
			return err
		}
		return outbox.Write(ctx, tx, ob, topic, e)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// state is what the services' tables hold, in one line.
func (s shopDB) state(t *testing.T) string {
	t.Helper()
	var parts []string
	for _, q := range []string{
		`SELECT 'stock=' || CAST(qty AS TEXT) FROM %p_stock`,
		`SELECT 'reserved:' || order_id || '=' || CAST(qty AS TEXT) FROM %p_reservations ORDER BY order_id`,
		`SELECT 'charged:' || order_id || '=' || CAST(amount AS TEXT) FROM %p_charges ORDER BY order_id`,
		`SELECT 'shipped:' || order_id FROM %p_shipments ORDER BY order_id`,
		`SELECT order_id_status FROM (SELECT id || '=' || status AS order_id_status, id FROM %p_orders) o ORDER BY id`,
	} {
		rows, err := s.db.Query(s.q(q))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			parts = append(parts, v)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return strings.Join(parts, " ")
}

// TestChoreographedOrderEndToEnd runs the order process choreographed on
// a real broker, on SQLite and on PostgreSQL: four services (inventory,
// payment, shipping, orders) react to each other's events with
// saga.ReactTx, each event handled once per service (dedup.SQL.InTx),
// and a Tracker tells each order's state from the topic alone, by
// correlation id. o-1 is shipped; o-2's payment is declined, so its stock
// is released and the order cancelled; o-3 is out of stock and
// rejected. Then every event is delivered again: nothing changes, and
// nothing more is emitted.
func TestChoreographedOrderEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := pubsubtest.New(t)
		topic := b.Topic("shop", 1) // one partition: the redelivery check relies on its order
		db, st := be.open(t)
		s := shopDB{db: db, postgres: st.Dialect() == saga.Postgres, prefix: st.Prefix()}
		s.create(t, 10)
		dialect := dedup.SQLite
		if s.postgres {
			dialect = dedup.Postgres
		}
		seen, err := dedup.NewSQL(context.Background(), db, dialect, s.prefix+"_seen")
		if err != nil {
			t.Fatal(err)
		}
		relay, err := outbox.NewRelay(be.ob, b.Client(), outbox.RelayConfig{PollInterval: 20 * time.Millisecond, Logger: logger()})
		if err != nil {
			t.Fatal(err)
		}
		runs := []func(context.Context) error{relay.Run}
		for name, f := range s.reactions(topic) {
			r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: b.Seeds, Group: pubsubtest.Group(name), Logger: logger(),
				ClientOpts: []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond)}})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Handle(topic, seen.InTx(saga.ReactTx(be.ob, f))); err != nil {
				t.Fatal(err)
			}
			runs = append(runs, r.Run)
		}
		tracker, err := saga.NewTracker(saga.TrackerConfig{
			Start: []string{"order.placed"}, Advance: []string{"stock.reserved", "payment.charged"},
			Complete: []string{"order.shipped"}, Compensate: []string{"payment.declined", "stock.released", "stock.unavailable"},
			Aborted: []string{"order.cancelled", "order.rejected"},
		})
		if err != nil {
			t.Fatal(err)
		}
		follow := b.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
		runs = append(runs, func(ctx context.Context) error { return tracker.Follow(ctx, follow) })
		runAll(t, runs...)

		for _, o := range []shopOrder{{ID: "o-1", Amount: 10, Qty: 2}, {ID: "o-2", Amount: 500, Qty: 3}, {ID: "o-3", Amount: 10, Qty: 50}} {
			s.place(t, be.ob, topic, o)
		}
		want := map[string]struct {
			status saga.Status
			types  string
		}{
			"o-1": {saga.Done, "order.placed stock.reserved payment.charged order.shipped"},
			"o-2": {saga.Compensated, "order.placed stock.reserved payment.declined stock.released order.cancelled"},
			"o-3": {saga.Compensated, "order.placed stock.unavailable order.rejected"},
		}
		const wantState = "stock=8 reserved:o-1=2 charged:o-1=10 shipped:o-1 o-1=shipped o-2=cancelled o-3=rejected"
		waitShop(t, tracker, s, want, wantState)
		checkProcesses(t, tracker, want)
		before := endOffset(t, b.Client(), topic)

		// Every event again, then s-1, which goes through every service
		// after the duplicates (one partition).
		dups := redeliverAll(t, b, topic, before)
		s.place(t, be.ob, topic, shopOrder{ID: "s-1", Amount: 20, Qty: 1})
		want["s-1"] = want["o-1"]
		waitShop(t, tracker, s, want,
			"stock=7 reserved:o-1=2 reserved:s-1=1 charged:o-1=10 charged:s-1=20 shipped:o-1 shipped:s-1 o-1=shipped o-2=cancelled o-3=rejected s-1=shipped")
		checkProcesses(t, tracker, want)
		if after := endOffset(t, b.Client(), topic); after != before+dups+4 {
			t.Fatalf("%d events on the topic, want %d before + %d redelivered + 4 of s-1: the duplicates emitted %d",
				after, before, dups, after-before-dups-4)
		}
	})
}

// waitShop waits until the tracker sees each process in its status and
// the services' tables are in state.
func waitShop(t *testing.T, tr *saga.Tracker, s shopDB, want map[string]struct {
	status saga.Status
	types  string
}, state string) {
	t.Helper()
	testenv.CheckFor(t, 60*time.Second, func() error {
		for id, w := range want {
			if p, ok := tr.Get(id); !ok || p.Status != w.status {
				return fmt.Errorf("%s: %+v", id, p)
			}
		}
		if got := s.state(t); got != state {
			return fmt.Errorf("tables: %s, want %s", got, state)
		}
		return nil
	})
}

// checkProcesses checks each process's events: their types, each caused
// by the one before it.
func checkProcesses(t *testing.T, tr *saga.Tracker, want map[string]struct {
	status saga.Status
	types  string
}) {
	t.Helper()
	for id, w := range want {
		p, _ := tr.Get(id)
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
}

// redeliverAll publishes the first n records of topic again, as they
// were, and returns n.
func redeliverAll(t *testing.T, b *pubsubtest.Broker, topic string, n int64) int64 {
	t.Helper()
	ctx := context.Background()
	cl := b.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	var recs []*kgo.Record
	for int64(len(recs)) < n {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if int64(len(recs)) < n {
				recs = append(recs, &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: r.Headers})
			}
		})
	}
	if err := b.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return n
}

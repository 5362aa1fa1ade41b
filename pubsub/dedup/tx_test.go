package dedup_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/dedup"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// txDB is a database with a dedup store and an effects table.
type txDB struct {
	db      *sql.DB
	store   *dedup.SQL
	effects string
	insert  string // inserts an effect: (event id)
}

func txDBs(t *testing.T) map[string]txDB {
	ctx := context.Background()
	lite, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "tx.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	pg, err := sql.Open("pgx", pubsubtest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	out := map[string]txDB{}
	for name, d := range map[string]struct {
		db      *sql.DB
		dialect dedup.Dialect
		insert  string
	}{
		"sqlite":   {lite, dedup.SQLite, "INSERT INTO %s (event_id) VALUES (?)"},
		"postgres": {pg, dedup.Postgres, "INSERT INTO %s (event_id) VALUES ($1)"},
	} {
		ids, effects := pubsubtest.UniqueName("dedup_tx"), pubsubtest.UniqueName("effects")
		store, err := dedup.NewSQL(ctx, d.db, d.dialect, ids)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := d.db.ExecContext(ctx, "CREATE TABLE "+effects+" (event_id TEXT NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = d.db.Exec("DROP TABLE " + ids)
			_, _ = d.db.Exec("DROP TABLE " + effects)
		})
		out[name] = txDB{db: d.db, store: store, effects: effects, insert: fmt.Sprintf(d.insert, effects)}
	}
	return out
}

func (d txDB) count(t *testing.T, id string) int {
	t.Helper()
	var n int
	q := "SELECT count(*) FROM " + d.effects + " WHERE event_id = '" + id + "'"
	if err := d.db.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInTxConcurrentDeliveries: eight instances handle one event at the
// same moment (as during a rebalance); exactly one takes effect, the
// others end Deduplicated; a failed attempt records nothing, so the next
// attempt takes effect.
func TestInTxConcurrentDeliveries(t *testing.T) {
	for name, d := range txDBs(t) {
		t.Run(name, func(t *testing.T) {
			var fail atomic.Bool
			h := d.store.InTx(func(ctx context.Context, tx *sql.Tx, m *pubsub.Message) error {
				if _, err := tx.ExecContext(ctx, d.insert, m.Event.ID); err != nil {
					return err
				}
				if fail.Load() {
					return errors.New("refused after writing")
				}
				return nil
			})
			e := event.New("/test", "t", nil)
			const n = 8
			var wg sync.WaitGroup
			gate := make(chan struct{})
			outcomes := make([]pubsub.Outcome, n)
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					m := &pubsub.Message{Event: e, Record: &kgo.Record{}, Group: "g", Attempt: 1}
					<-gate
					errs[i] = h(context.Background(), m)
					outcomes[i] = m.Outcome()
				})
			}
			close(gate)
			wg.Wait()
			handled := 0
			for i := range n {
				if errs[i] != nil {
					t.Errorf("instance %d: %v", i, errs[i])
				}
				if outcomes[i] == pubsub.Handled {
					handled++
				}
			}
			if got := d.count(t, e.ID); got != 1 || handled != 1 {
				t.Errorf("%d effects, %d handled outcomes; want 1 and 1", got, handled)
			}

			f := event.New("/test", "t", nil)
			fail.Store(true)
			m := &pubsub.Message{Event: f, Record: &kgo.Record{}, Group: "g", Attempt: 1}
			if err := h(context.Background(), m); err == nil {
				t.Fatal("failing handler: no error")
			}
			if got := d.count(t, f.ID); got != 0 {
				t.Fatalf("failed attempt left %d effects", got)
			}
			fail.Store(false)
			if err := h(context.Background(), m); err != nil || m.Outcome() != pubsub.Handled || d.count(t, f.ID) != 1 {
				t.Fatalf("retry after failure: err %v, outcome %v, %d effects", err, m.Outcome(), d.count(t, f.ID))
			}
		})
	}
}

// TestInTxRouters: each event is published twice (an outbox relay that died between publish and delete
// does that) to a topic of two partitions, under different keys so that
// the copies go to different workers and run concurrently; two routers
// of one group share the partitions. Each event takes effect once.
func TestInTxRouters(t *testing.T) {
	d := txDBs(t)["sqlite"]
	b := pubsubtest.New(t)
	topic := b.Topic("tx", 2)
	var evs []event.Event
	for i := range 20 {
		e := event.New("/test", "t", nil)
		e.Key = fmt.Sprintf("a%d", i)
		dup := e
		dup.Key = fmt.Sprintf("b%d", i)
		evs = append(evs, e, dup)
	}
	if err := pubsub.NewPublisher(b.Client()).Publish(context.Background(), topic, evs...); err != nil {
		t.Fatal(err)
	}
	group := pubsubtest.Group("tx")
	var mu sync.Mutex
	acked := map[string]bool{} // copies (event id and key) acknowledged, handled or deduplicated
	for range 2 {
		r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: b.Seeds, Group: group, Logger: slog.New(slog.DiscardHandler),
			Backoff: pubsub.Backoff{Initial: time.Millisecond}, CommitInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		r.Handle(topic, d.store.InTx(func(ctx context.Context, tx *sql.Tx, m *pubsub.Message) error {
			_, err := tx.ExecContext(ctx, d.insert, m.Event.ID)
			return err
		}), func(next pubsub.Handler) pubsub.Handler {
			return func(ctx context.Context, m *pubsub.Message) error {
				err := next(ctx, m)
				if err == nil {
					mu.Lock()
					acked[m.Event.ID+"/"+m.Event.Key] = true
					mu.Unlock()
				}
				return err
			}
		})
		errc := make(chan error, 1)
		go func() { errc <- r.Run(context.Background()) }()
		t.Cleanup(func() {
			r.Close()
			if err := <-errc; err != nil {
				t.Error(err)
			}
		})
	}
	testenv.CheckFor(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < len(evs) {
			return fmt.Errorf("%d of %d copies acknowledged", len(acked), len(evs))
		}
		return nil
	})
	for _, e := range evs[:2] {
		if n := d.count(t, e.ID); n != 1 {
			t.Errorf("event %s: %d effects, want 1", e.ID, n)
		}
	}
	var rows, distinct int
	if err := d.db.QueryRow("SELECT count(*), count(DISTINCT event_id) FROM "+d.effects).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != 20 || distinct != 20 {
		t.Errorf("%d effect rows of %d events, want 20 of 20", rows, distinct)
	}
}

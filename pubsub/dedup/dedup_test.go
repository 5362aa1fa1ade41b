package dedup_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/twmb/franz-go/pkg/kgo"
	_ "modernc.org/sqlite"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/dedup"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

func TestMemoryTTL(t *testing.T) {
	m := dedup.NewMemory(time.Minute)
	ctx := context.Background()
	if seen, _ := m.Seen(ctx, "a"); seen {
		t.Fatal("unseen id seen")
	}
	_ = m.Mark(ctx, "a")
	if seen, _ := m.Seen(ctx, "a"); !seen {
		t.Fatal("marked id not seen")
	}
	short := dedup.NewMemory(time.Millisecond)
	_ = short.Mark(ctx, "a")
	time.Sleep(5 * time.Millisecond)
	if seen, _ := short.Seen(ctx, "a"); seen {
		t.Fatal("expired id seen")
	}
	_ = short.Mark(ctx, "b") // sweeps a
	if short.Len() != 1 {
		t.Fatalf("Len %d after sweep, want 1", short.Len())
	}
}

func stores(t *testing.T) map[string]dedup.Store {
	ctx := context.Background()
	lite, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "d.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	ls, err := dedup.NewSQL(ctx, lite, dedup.SQLite, "herald_dedup")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := sql.Open("pgx", pubsubtest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	table := pubsubtest.UniqueName("dedup")
	ps, err := dedup.NewSQL(ctx, pg, dedup.Postgres, table)
	if err != nil {
		t.Fatalf("postgres (run scripts/ensure-postgres.sh as root): %v", err)
	}
	t.Cleanup(func() { pg.Exec("DROP TABLE " + table) })
	return map[string]dedup.Store{"memory": dedup.NewMemory(time.Hour), "sqlite": ls, "postgres": ps}
}

// TestDuplicatesHandledOnce: every event is published twice (and one is
// failed once first); the handler's effect happens once per event.
func TestDuplicatesHandledOnce(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			b := pubsubtest.New(t)
			topic := b.Topic("dup", 2)
			var evs []event.Event
			for i := range 20 {
				e := event.New("/dup", "dup", []byte(fmt.Sprint(i)))
				e.Key = fmt.Sprint("k", i%3)
				evs = append(evs, e, e) // the duplicate, on purpose
			}
			if err := pubsub.NewPublisher(b.Client()).Publish(context.Background(), topic, evs...); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			effects := map[string]int{}
			calls := 0
			r, err := pubsub.NewRouter(pubsub.RouterConfig{
				Brokers: b.Seeds, Group: pubsubtest.Group("dup"),
				Backoff:    pubsub.Backoff{Initial: time.Millisecond},
				Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
				ClientOpts: []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond)},
			})
			if err != nil {
				t.Fatal(err)
			}
			r.Use(dedup.Middleware(store))
			r.Handle(topic, func(_ context.Context, m *pubsub.Message) error {
				mu.Lock()
				defer mu.Unlock()
				calls++
				if string(m.Event.Data) == "7" && m.Attempt == 1 {
					return fmt.Errorf("fail once")
				}
				effects[m.Event.ID]++
				return nil
			})
			done := make(chan error, 1)
			go func() { done <- r.Run(context.Background()) }()
			defer func() { r.Close(); <-done }()
			deadline := time.Now().Add(20 * time.Second)
			for {
				mu.Lock()
				n := len(effects)
				mu.Unlock()
				if n == 20 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("handled %d of 20", n)
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond) // let the duplicates arrive
			mu.Lock()
			defer mu.Unlock()
			for id, n := range effects {
				if n != 1 {
					t.Fatalf("event %s had its effect %d times", id, n)
				}
			}
			if calls != 21 {
				t.Fatalf("handler called %d times, want 21 (20 + one retry; duplicates skipped)", calls)
			}
		})
	}
}

func TestSQLPurge(t *testing.T) {
	ctx := context.Background()
	s := stores(t)["sqlite"].(*dedup.SQL)
	_ = s.Mark(ctx, "old")
	n, err := s.Purge(ctx, time.Now().Add(time.Second))
	if err != nil || n != 1 {
		t.Fatalf("Purge: %d, %v", n, err)
	}
	if seen, _ := s.Seen(ctx, "old"); seen {
		t.Fatal("purged id seen")
	}
}

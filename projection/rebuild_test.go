package projection_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/projection"
)

// gate is a store whose ReadAll can be made to wait: it holds a rebuild
// between batches, outside any transaction.
type gate struct {
	eventstore.Store
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	release chan struct{}
}

func (g *gate) ReadAll(ctx context.Context, after int64, max int) ([]eventstore.Recorded, error) {
	g.mu.Lock()
	armed := g.armed
	g.armed = false
	g.mu.Unlock()
	if armed {
		close(g.entered)
		<-g.release
	}
	return g.Store.ReadAll(ctx, after, max)
}

func TestRebuildSwitchesTables(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		g := &gate{Store: e.store, entered: make(chan struct{}), release: make(chan struct{})}
		e.store = g
		e.newRunner(t, projection.Config{Batch: 7, RebuildBatch: 7})
		e.register(t, e.counts("rb", nil))
		for range 30 {
			e.append(t, "s", "x")
		}
		if err := e.drain(t, "rb"); err != nil {
			t.Fatal(err)
		}
		// Hold the rebuild between batches, try a second one, then let
		// the live projection and appends go on meanwhile.
		g.mu.Lock()
		g.armed = true
		g.mu.Unlock()
		done := make(chan error, 1)
		var replayed int64
		go func() {
			var err error
			replayed, err = e.runner.Rebuild(ctx, e.schema+"rb")
			done <- err
		}()
		<-g.entered
		if _, err := e.runner.Rebuild(ctx, e.schema+"rb"); !errors.Is(err, projection.ErrRebuilding) {
			t.Fatalf("second rebuild: %v, want ErrRebuilding", err)
		}
		if s := e.status(t, "rb"); !s.Rebuilding || !strings.HasSuffix(s.Table, "rb_g1") {
			t.Fatalf("status during the rebuild: %+v", s)
		}
		e.append(t, "s", "x", "x")
		if err := e.drain(t, "rb"); err != nil {
			t.Fatal(err)
		}
		if got := e.view(t, "rb"); got["s"] != 32 {
			t.Fatalf("readers during the rebuild see %v", got)
		}
		close(g.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if replayed != 32 {
			t.Fatalf("rebuild replayed %d events, want 32", replayed)
		}
		s := e.status(t, "rb")
		if s.Rebuilding || !strings.HasSuffix(s.Table, "rb_g2") || s.Position != 32 || s.Lag != 0 {
			t.Fatalf("status after the rebuild: %+v", s)
		}
		if got := e.view(t, "rb"); got["s"] != 32 {
			t.Fatalf("view after the rebuild: %v", got)
		}
		if _, err := e.db.Exec("SELECT * FROM " + e.schema + "rb_g1"); err == nil {
			t.Fatal("the old table is still there after the switch")
		}
		e.append(t, "s", "x")
		if err := e.drain(t, "rb"); err != nil {
			t.Fatal(err)
		}
		if got := e.view(t, "rb"); got["s"] != 33 {
			t.Fatalf("live after the rebuild: %v", got)
		}
	})
}

func TestRebuildPoisonKeepsOldTable(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		p := e.counts("rp", nil)
		e.register(t, p)
		e.append(t, "s", "x", "x")
		if err := e.drain(t, "rp"); err != nil {
			t.Fatal(err)
		}
		// The new handler cannot read "x": the rebuild fails, nothing moves.
		bad := p
		bad.Apply = func(context.Context, *sql.Tx, string, eventstore.Recorded) error {
			return errors.New("new code, old event")
		}
		e.newRunner(t, projection.Config{})
		e.register(t, bad)
		if _, err := e.runner.Rebuild(ctx, e.schema+"rp"); err == nil || !strings.Contains(err.Error(), "new code, old event") {
			t.Fatalf("poisoned rebuild: %v", err)
		}
		s := e.status(t, "rp")
		if s.Rebuilding || s.Stopped || !strings.HasSuffix(s.Table, "rp_g1") || s.Position != 2 {
			t.Fatalf("status after a failed rebuild: %+v", s)
		}
		if got := e.view(t, "rp"); got["s"] != 2 {
			t.Fatalf("view after a failed rebuild: %v", got)
		}
		if _, err := e.db.Exec("SELECT * FROM " + e.schema + "rp_g2"); err == nil {
			t.Fatal("the failed rebuild's table is still there")
		}
	})
}

func TestInline(t *testing.T) {
	for _, d := range []projection.Dialect{projection.SQLite, projection.Postgres} {
		t.Run(map[projection.Dialect]string{projection.SQLite: "sqlite", projection.Postgres: "postgres"}[d], func(t *testing.T) {
			e := newEnv(t, d, func(self *env) []eventstore.TxHook {
				return []eventstore.TxHook{func(ctx context.Context, tx *sql.Tx, recs []eventstore.Recorded) error {
					return self.runner.Inline(self.schema+"inl")(ctx, tx, recs)
				}}
			})
			e.register(t, e.counts("inl", nil))
			e.append(t, "a", "x", "x")
			e.append(t, "b", "x")
			if got := e.view(t, "inl"); got["a"] != 2 || got["b"] != 1 {
				t.Fatalf("inline view without a step: %v", got)
			}
			if s := e.status(t, "inl"); s.Position != 3 || s.Lag != 0 {
				t.Fatalf("inline status %+v", s)
			}
			// A handler error fails the append: the event is not stored.
			if _, err := e.store.Append(context.Background(), "a", eventstore.Any, eventEv("poison")); err == nil {
				t.Fatal("append with a failing inline projection succeeded")
			}
			if head, _ := e.store.Head(context.Background()); head != 3 {
				t.Fatalf("head %d after the refused append", head)
			}
		})
	}
}

func TestRunKeepsUp(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		e.register(t, e.counts("live", nil))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.runner.Run(ctx) }()
		for range 25 {
			e.append(t, "s", "x")
		}
		testenv.CheckFor(t, 10*time.Second, func() error {
			if s := e.status(t, "live"); s.Lag != 0 || s.Position != 25 {
				return errors.New("lagging")
			}
			return nil
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := e.view(t, "live"); got["s"] != 25 {
			t.Fatalf("view %v", got)
		}
	})
}

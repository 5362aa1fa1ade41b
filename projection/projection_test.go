package projection_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/eventstoretest"
	"github.com/heraldhq/herald/eventstore/postgres"
	"github.com/heraldhq/herald/eventstore/sqlite"
	"github.com/heraldhq/herald/projection"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// env is an event store and a projection runner on one database.
type env struct {
	db     *sql.DB
	d      projection.Dialect
	store  eventstore.Store
	runner *projection.Runner
	schema string // "" or "schema." to qualify names with
}

// backends runs f on SQLite and on PostgreSQL.
func backends(t *testing.T, f func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) { f(t, newEnv(t, projection.SQLite, nil)) })
	t.Run("postgres", func(t *testing.T) { f(t, newEnv(t, projection.Postgres, nil)) })
}

func newEnv(t testing.TB, d projection.Dialect, hooks func(*env) []eventstore.TxHook) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{d: d}
	var err error
	if d == projection.SQLite {
		e.db, err = sqlite.Open(filepath.Join(t.TempDir(), "p.db"))
	} else {
		e.db, err = sql.Open("pgx", pubsubtest.PostgresDSN(t))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	if d == projection.Postgres {
		schema := pubsubtest.UniqueName("proj")
		if _, err := e.db.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatal(err)
		}
		e.schema = schema + "."
		t.Cleanup(func() {
			if _, err := e.db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
				t.Errorf("drop schema: %v", err)
			}
		})
	}
	var hs []eventstore.TxHook
	if hooks != nil {
		hs = hooks(e)
	}
	if d == projection.SQLite {
		e.store, err = sqlite.New(ctx, e.db, sqlite.Config{Hooks: hs})
	} else {
		e.store, err = postgres.New(ctx, e.db, postgres.Config{Prefix: e.schema + "events", Hooks: hs})
	}
	if err != nil {
		t.Fatal(err)
	}
	if e.runner == nil {
		e.newRunner(t, projection.Config{Batch: 7})
	}
	return e
}

func (e *env) newRunner(t testing.TB, cfg projection.Config) *projection.Runner {
	t.Helper()
	cfg.Table = e.schema + "herald_projections"
	r, err := projection.New(context.Background(), e.db, e.d, e.store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.runner = r
	return r
}

// counts is a projection that counts events per stream; applied counts
// every call of its handler, so a repeat shows.
func (e *env) counts(name string, applied *atomic.Int64) projection.Projection {
	return projection.Projection{
		Name: e.schema + name,
		Setup: func(ctx context.Context, tx *sql.Tx, table string) error {
			_, err := tx.ExecContext(ctx, "CREATE TABLE "+table+" (stream TEXT PRIMARY KEY, n BIGINT NOT NULL, last_type TEXT NOT NULL)")
			return err
		},
		Apply: func(ctx context.Context, tx *sql.Tx, table string, r eventstore.Recorded) error {
			if strings.HasPrefix(r.Type, "poison") {
				return fmt.Errorf("cannot read %s", r.Type)
			}
			if applied != nil {
				applied.Add(1)
			}
			_, err := tx.ExecContext(ctx, e.rebind("INSERT INTO "+table+" (stream, n, last_type) VALUES (?, 1, ?) "+
				"ON CONFLICT (stream) DO UPDATE SET n = "+table+".n + 1, last_type = excluded.last_type"), r.Stream, r.Type)
			return err
		},
	}
}

func (e *env) rebind(q string) string {
	if e.d != projection.Postgres {
		return q
	}
	for i := 1; strings.Contains(q, "?"); i++ {
		q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
	}
	return q
}

func (e *env) register(t testing.TB, p projection.Projection) {
	t.Helper()
	if err := e.runner.Register(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func (e *env) append(t testing.TB, stream string, types ...string) {
	t.Helper()
	for _, typ := range types {
		if _, err := e.store.Append(context.Background(), stream, eventstore.Any, eventstoretest.Event(typ, "")); err != nil {
			t.Fatal(err)
		}
	}
}

// drain steps projection name until it has nothing left; it returns the
// first error.
func (e *env) drain(t testing.TB, name string) error {
	t.Helper()
	for {
		n, err := e.runner.Step(context.Background(), e.schema+name)
		if err != nil || n == 0 {
			return err
		}
	}
}

// view returns stream -> n from the projection's view.
func (e *env) view(t testing.TB, name string) map[string]int64 {
	t.Helper()
	rows, err := e.db.Query("SELECT stream, n FROM " + e.schema + name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		out[s] = n
	}
	return out
}

func (e *env) status(t testing.TB, name string) projection.Status {
	t.Helper()
	all, err := e.runner.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if s.Name == e.schema+name {
			return s
		}
	}
	t.Fatalf("no status for %s in %+v", name, all)
	return projection.Status{}
}

func TestAsyncCheckpointAndLag(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		var applied atomic.Int64
		e.register(t, e.counts("counts", &applied))
		for i := range 20 {
			e.append(t, fmt.Sprintf("s-%d", i%3), "x")
		}
		if s := e.status(t, "counts"); s.Lag != 20 || s.Position != 0 {
			t.Fatalf("before any step: %+v", s)
		}
		if n, err := e.runner.Step(context.Background(), e.schema+"counts"); err != nil || n != 7 {
			t.Fatalf("first step applied %d (%v), want a batch of 7", n, err)
		}
		if s := e.status(t, "counts"); s.Lag != 13 || s.Position != 7 {
			t.Fatalf("after one step: %+v", s)
		}
		if err := e.drain(t, "counts"); err != nil {
			t.Fatal(err)
		}
		// A new runner (a restart) carries on from the checkpoint.
		e.newRunner(t, projection.Config{Batch: 7})
		e.register(t, e.counts("counts", &applied))
		e.append(t, "s-0", "y")
		if err := e.drain(t, "counts"); err != nil {
			t.Fatal(err)
		}
		if got := e.view(t, "counts"); got["s-0"] != 8 || got["s-1"] != 7 || got["s-2"] != 6 {
			t.Fatalf("view %v", got)
		}
		if applied.Load() != 21 {
			t.Fatalf("handler ran %d times for 21 events", applied.Load())
		}
		if s := e.status(t, "counts"); s.Lag != 0 || s.Position != 21 || s.Head != 21 {
			t.Fatalf("caught up: %+v", s)
		}
	})
}

func TestPoisonStops(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		e.register(t, e.counts("strict", nil))
		other := e.counts("other", nil)
		inner := other.Apply
		other.Apply = func(ctx context.Context, tx *sql.Tx, table string, r eventstore.Recorded) error {
			r.Type = strings.TrimPrefix(r.Type, "poison")
			return inner(ctx, tx, table, r)
		}
		e.register(t, other)
		e.append(t, "a", "x", "x", "poison-1", "x")
		err := e.drain(t, "strict")
		if !errors.Is(err, projection.ErrStopped) || !strings.Contains(err.Error(), "position 3") {
			t.Fatalf("poisoned projection: %v", err)
		}
		s := e.status(t, "strict")
		if !s.Stopped || s.ErrorAt != 3 || s.Position != 2 || !strings.Contains(s.Error, "cannot read poison-1") {
			t.Fatalf("status of the stopped projection: %+v", s)
		}
		if got := e.view(t, "strict"); got["a"] != 2 {
			t.Fatalf("events before the poison not kept: %v", got)
		}
		if _, err := e.runner.Step(context.Background(), e.schema+"strict"); !errors.Is(err, projection.ErrStopped) {
			t.Fatalf("step of a stopped projection: %v", err)
		}
		// The other projection goes on.
		if err := e.drain(t, "other"); err != nil {
			t.Fatal(err)
		}
		if got := e.view(t, "other"); got["a"] != 4 {
			t.Fatalf("other projection: %v", got)
		}
		if err := e.runner.Resume(context.Background(), e.schema+"strict"); err != nil {
			t.Fatal(err)
		}
		if err := e.drain(t, "strict"); !errors.Is(err, projection.ErrStopped) {
			t.Fatalf("resumed on the same poison: %v", err)
		}
	})
}

func TestPoisonSkips(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		p := e.counts("lenient", nil)
		p.OnPoison = projection.Skip
		e.register(t, p)
		e.append(t, "a", "x", "poison-1", "x", "poison-2", "x")
		if err := e.drain(t, "lenient"); err != nil {
			t.Fatal(err)
		}
		if got := e.view(t, "lenient"); got["a"] != 3 {
			t.Fatalf("view %v", got)
		}
		s := e.status(t, "lenient")
		if s.Position != 5 || s.Skipped != 2 || s.Stopped {
			t.Fatalf("status %+v", s)
		}
		sk, err := e.runner.Skipped(context.Background(), e.schema+"lenient")
		if err != nil || len(sk) != 2 || !strings.Contains(sk[2], "poison-1") || !strings.Contains(sk[4], "poison-2") {
			t.Fatalf("skipped %v, %v", sk, err)
		}
	})
}

func TestHandlerPanicIsAnError(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		p := e.counts("panicky", nil)
		p.Apply = func(context.Context, *sql.Tx, string, eventstore.Recorded) error { panic("boom") }
		e.register(t, p)
		e.append(t, "a", "x")
		if err := e.drain(t, "panicky"); !errors.Is(err, projection.ErrStopped) || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("panicking handler: %v", err)
		}
	})
}

func TestBadProjection(t *testing.T) {
	e := newEnv(t, projection.SQLite, nil)
	for _, p := range []projection.Projection{
		{Name: "x; DROP TABLE y", Setup: e.counts("a", nil).Setup, Apply: e.counts("a", nil).Apply},
		{Name: "ok"},
	} {
		if err := e.runner.Register(context.Background(), p); err == nil {
			t.Errorf("projection %q registered", p.Name)
		}
	}
	if _, err := e.runner.Step(context.Background(), "nope"); !errors.Is(err, projection.ErrUnknown) {
		t.Errorf("step of an unknown projection: %v", err)
	}
}

func eventEv(typ string) event.Event { return eventstoretest.Event(typ, "") }

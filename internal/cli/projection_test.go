package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
	espg "github.com/heraldhq/herald/eventstore/postgres"
	essqlite "github.com/heraldhq/herald/eventstore/sqlite"
	"github.com/heraldhq/herald/projection"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// projFixture is a service's database: an event store with 11 events
// (the last one "poison") and a runner with two projections applied up to
// the head, "totals" and "fragile", stopped at the poisoned event.
type projFixture struct {
	db      *sql.DB
	store   eventstore.Store
	runner  *projection.Runner
	args    []string // --db and table flags for the commands
	schema  string   // "" or "schema."
	dialect projection.Dialect
}

// heldStore holds its ReadAll calls while hold is set, outside any
// transaction: a rebuild then stays under way.
type heldStore struct {
	eventstore.Store
	hold    atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (h *heldStore) ReadAll(ctx context.Context, after int64, max int) ([]eventstore.Recorded, error) {
	if h.hold.CompareAndSwap(true, false) {
		close(h.entered)
		<-h.release
	}
	return h.Store.ReadAll(ctx, after, max)
}

func newProjFixture(t *testing.T, postgres bool) *projFixture {
	t.Helper()
	ctx := context.Background()
	f := &projFixture{}
	var err error
	if postgres {
		dsn := pubsubtest.PostgresDSN(t)
		if f.db, err = sql.Open("pgx", dsn); err != nil {
			t.Fatal(err)
		}
		schema := pubsubtest.UniqueName("cliproj")
		if _, err := f.db.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = f.db.Exec("DROP SCHEMA " + schema + " CASCADE") })
		f.schema, f.dialect = schema+".", projection.Postgres
		f.args = []string{"--db", dsn}
		f.store, err = espg.New(ctx, f.db, espg.Config{Prefix: f.schema + "events"})
	} else {
		path := filepath.Join(t.TempDir(), "service.db")
		if f.db, err = essqlite.Open(path); err != nil {
			t.Fatal(err)
		}
		f.args = []string{"--db", "sqlite:" + path}
		f.store, err = essqlite.New(ctx, f.db, essqlite.Config{Prefix: f.schema + "events"})
	}
	t.Cleanup(func() { f.db.Close() })
	if err != nil {
		t.Fatal(err)
	}
	f.args = append(f.args, "--table", f.schema+"herald_projections", "--events", f.schema+"events")
	f.newRunner(t, f.store)
	for i := range 10 {
		if _, err := f.store.Append(ctx, fmt.Sprintf("s-%d", i%2), eventstore.Any, event.New("/t", "x", nil)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.store.Append(ctx, "s-0", eventstore.Any, event.New("/t", "poison", nil)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"totals", "fragile"} {
		for {
			n, err := f.runner.Step(ctx, f.schema+name)
			if errors.Is(err, projection.ErrStopped) && name == "fragile" {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
	}
	return f
}

// newRunner makes the service's runner over store, with both projections.
func (f *projFixture) newRunner(t *testing.T, store eventstore.Store) {
	t.Helper()
	ctx := context.Background()
	r, err := projection.New(ctx, f.db, f.dialect, store, projection.Config{Table: f.schema + "herald_projections", Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"totals", "fragile"} {
		err := r.Register(ctx, projection.Projection{
			Name: f.schema + name,
			Setup: func(ctx context.Context, tx *sql.Tx, table string) error {
				_, err := tx.ExecContext(ctx, "CREATE TABLE "+table+" (id TEXT PRIMARY KEY)")
				return err
			},
			Apply: func(ctx context.Context, tx *sql.Tx, table string, r eventstore.Recorded) error {
				if name == "fragile" && r.Type == "poison" {
					return errors.New("cannot read poison")
				}
				_, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (id) VALUES ('"+r.ID+"')")
				return err
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	f.runner = r
}

func (f *projFixture) list(t *testing.T) map[string]projectionRow {
	t.Helper()
	out := ok(t, "", "", append([]string{"projection", "list", "-o", "json"}, f.args...)...).out
	var rows []projectionRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("list -o json: %v\n%s", err, out)
	}
	m := map[string]projectionRow{}
	for _, r := range rows {
		m[strings.TrimPrefix(r.Name, f.schema)] = r
	}
	return m
}

func TestProjectionCommands(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { testProjectionCommands(t, backend == "postgres") })
	}
}

func testProjectionCommands(t *testing.T, postgres bool) {
	ctx := context.Background()
	f := newProjFixture(t, postgres)
	rows := f.list(t)
	if r := rows["totals"]; r.Position != 11 || r.Head != 11 || r.Lag != 0 || r.Status != projRunning {
		t.Fatalf("totals: %+v", r)
	}
	if r := rows["fragile"]; r.Position != 10 || r.Lag != 1 || r.Status != projStopped || r.ErrorPosition != 11 ||
		!strings.Contains(r.Error, "cannot read poison") {
		t.Fatalf("fragile: %+v", r)
	}
	text := ok(t, "", "", append([]string{"projection", "list"}, f.args...)...).out
	if !strings.Contains(text, "LAG") || !strings.Contains(text, "stopped") || !strings.Contains(text, "at 11: ") {
		t.Fatalf("list:\n%s", text)
	}

	// A request, filed twice, waits for a runner; then one runs it.
	for range 2 {
		if out := ok(t, "", "", append([]string{"projection", "rebuild", f.schema + "totals"}, f.args...)...).out; !strings.Contains(out, "requested") {
			t.Fatalf("rebuild: %s", out)
		}
	}
	if r := f.list(t)["totals"]; r.Status != projRequested || !strings.HasSuffix(r.Table, "totals_g1") {
		t.Fatalf("totals after the request: %+v", r)
	}
	if n, ran, err := f.runner.MaybeRebuild(ctx, f.schema+"totals"); !ran || err != nil || n != 11 {
		t.Fatalf("the runner's rebuild: ran %v, %d events, %v", ran, n, err)
	}
	if r := f.list(t)["totals"]; r.Status != projRunning || !strings.HasSuffix(r.Table, "totals_g2") || r.Lag != 0 {
		t.Fatalf("totals after the rebuild: %+v", r)
	}

	// --wait returns once a running service has switched tables.
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.runner.Run(runCtx) }()
	out := ok(t, "", "", append([]string{"projection", "rebuild", f.schema + "totals", "--wait", "--timeout", "30s"}, f.args...)...).out
	if !strings.Contains(out, "totals_g3") {
		t.Fatalf("rebuild --wait: %s", out)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A rebuild under way refuses another; unknown names and missing
	// databases are errors.
	held := &heldStore{Store: f.store, entered: make(chan struct{}), release: make(chan struct{})}
	held.hold.Store(true)
	f.newRunner(t, held)
	rebuilt := make(chan error, 1)
	go func() {
		_, err := f.runner.Rebuild(ctx, f.schema+"totals")
		rebuilt <- err
	}()
	<-held.entered
	if r := f.list(t)["totals"]; r.Status != projRebuild || r.RebuildLease == "" {
		t.Fatalf("totals during a rebuild: %+v", r)
	}
	fails(t, "", "", "already running", append([]string{"projection", "rebuild", f.schema + "totals"}, f.args...)...)
	close(held.release)
	if err := <-rebuilt; err != nil {
		t.Fatal(err)
	}
	fails(t, "", "", "unknown projection", append([]string{"projection", "rebuild", f.schema + "nope"}, f.args...)...)
	fails(t, "", "", "required flag", "projection", "list")
	fails(t, "", "", "no such file", "projection", "list", "--db", filepath.Join(t.TempDir(), "missing.db"))
}

func TestProjectionRowStatus(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		in   projection.Status
		exp  string
		note string
	}{
		{"running", projection.Status{Position: 5, Head: 5}, projRunning, ""},
		{"stopped", projection.Status{Stopped: true, ErrorAt: 7, Error: "bad"}, projStopped, "at 7: bad"},
		{"requested", projection.Status{RebuildRequested: true}, projRequested, ""},
		{"rebuilding", projection.Status{Rebuilding: true, RebuildPosition: 3, Head: 9, RebuildLease: now.Add(time.Minute)}, projRebuild, "at 3 of 9"},
		{"stalled", projection.Status{Rebuilding: true, RebuildPosition: 3, Head: 9, RebuildLease: now.Add(-time.Second)}, projStalled, "at 3 of 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := toProjectionRow(tc.in, now)
			if row.Status != tc.exp || row.note() != tc.note {
				t.Fatalf("status %q note %q, want %q %q", row.Status, row.note(), tc.exp, tc.note)
			}
		})
	}
}

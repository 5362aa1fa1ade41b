package console_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
	essqlite "github.com/heraldhq/herald/eventstore/sqlite"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/outbox/sqlite"
	"github.com/heraldhq/herald/projection"
	"github.com/heraldhq/herald/saga"
)

// sagaFixture runs three instances of a two-step saga on SQLite: "o-1"
// done (both replies received), "o-2" running (waiting for its first
// reply) and "o-3" stuck (aborted, its compensation failed). It returns
// the store and the runner, which carries requests out once Run.
func sagaFixture(t *testing.T) (*saga.Store, *saga.Runner) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sagas.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ob, err := sqlite.New(ctx, db, sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := saga.NewStore(ctx, db, ob, saga.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := saga.NewRunner(saga.Config{Store: st, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	act := func(topic, name string) saga.Action {
		return saga.Action{Topic: topic, Command: name, Success: name + ".ok", Failure: name + ".failed"}
	}
	err = r.Register(saga.Definition{Name: "order", Steps: []saga.Step{
		{Name: "stock", Action: act("inventory", "reserve"), Compensation: act("inventory", "release"), CompensationRetry: saga.RetryPolicy{MaxAttempts: 1}},
		{Name: "pay", Action: act("payments", "charge")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"o-1", "o-2", "o-3"} {
		if _, err := r.Start(ctx, "order", id, map[string]string{"id": id}); err != nil {
			t.Fatal(err)
		}
	}
	reply := func(id, evID, typ string) {
		t.Helper()
		e := event.New("/test", typ, nil)
		e.ID, e.CorrelationID = evID, id
		if err := r.HandleReply(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	reply("o-1", "evt-reserved-1", "reserve.ok")
	reply("o-1", "evt-charged-1", "charge.ok")
	if _, err := r.Abort(ctx, "o-3", "customer cancelled"); err != nil {
		t.Fatal(err)
	}
	reply("o-3", "evt-release-failed-3", "release.failed")
	for id, want := range map[string]saga.Status{"o-1": saga.Done, "o-2": saga.Running, "o-3": saga.Stuck} {
		if in, err := st.Get(ctx, id); err != nil || in.Status != want {
			t.Fatalf("fixture: %s is %s (%v), want %s", id, in.Status, err, want)
		}
	}
	return st, r
}

// projFixture is an event store on SQLite with 11 events and a runner
// with two projections applied up to the head: "totals", and "fragile",
// stopped at the last event ("poison").
func projFixture(t *testing.T) *projection.Runner {
	t.Helper()
	ctx := context.Background()
	db, err := essqlite.Open(filepath.Join(t.TempDir(), "service.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := essqlite.New(ctx, db, essqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := projection.New(ctx, db, projection.SQLite, store, projection.Config{Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"totals", "fragile"} {
		err := r.Register(ctx, projection.Projection{
			Name: name,
			Setup: func(ctx context.Context, tx *sql.Tx, table string) error {
				_, err := tx.ExecContext(ctx, "CREATE TABLE "+table+" (id TEXT PRIMARY KEY)")
				return err
			},
			Apply: func(ctx context.Context, tx *sql.Tx, table string, r eventstore.Recorded) error {
				if name == "fragile" && r.Type == "poison" {
					return errors.New("cannot read poison")
				}
				_, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (id) VALUES (?)", r.ID)
				return err
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if _, err := store.Append(ctx, fmt.Sprintf("s-%d", i%2), eventstore.Any, event.New("/t", "x", nil)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.Append(ctx, "s-0", eventstore.Any, event.New("/t", "poison", nil)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"totals", "fragile"} {
		for {
			n, err := r.Step(ctx, name)
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
	return r
}

// TestSagaPages: the list filters by state and type, an instance's page
// shows its steps, history, the events it sent and received and a link
// to its flow trace, an unknown id is the 404 page, and the retry and
// abort buttons file requests (after the confirmation) that a runner
// carries out.
func TestSagaPages(t *testing.T) {
	st, r := sagaFixture(t)
	e := newEnvWith(t, func(c *console.Config) { c.Sagas = st })

	status, body := e.get("/sagas")
	if status != http.StatusOK {
		t.Fatalf("/sagas: %d", status)
	}
	mustContain(t, "/sagas", body, `href="/sagas"`, `href="/sagas/o-1"`, `href="/sagas/o-2"`, `href="/sagas/o-3"`, "3 instances")
	_, body = e.get("/sagas?state=stuck")
	mustContain(t, "/sagas?state=stuck", body, `href="/sagas/o-3"`, "1 instances", "compensation of stock replied release.failed")
	if strings.Contains(body, `href="/sagas/o-1"`) {
		t.Fatalf("the stuck filter shows o-1:\n%s", clip(body))
	}
	if _, body = e.get("/sagas?type=payment"); !strings.Contains(body, "No saga instances match the filter") {
		t.Fatalf("the type filter:\n%s", clip(body))
	}
	status, body = e.get("/sagas?state=sleeping")
	if status != http.StatusBadRequest || !strings.Contains(body, `unknown saga state &#34;sleeping&#34;`) {
		t.Fatalf("a bad state: %d\n%s", status, clip(body))
	}

	_, body = e.get("/sagas/o-1")
	mustContain(t, "/sagas/o-1", body, `href="/trace/o-1"`, `<span class="tag state-done">done</span>`,
		`<ul id="saga-sent"><li><a href="/trace/o-1%2F0%2Fdo%2F1">o-1/0/do/1</a></li><li><a href="/trace/o-1%2F1%2Fdo%2F1">o-1/1/do/1</a></li></ul>`,
		`<ul id="saga-received"><li><a href="/trace/evt-reserved-1">evt-reserved-1</a></li><li><a href="/trace/evt-charged-1">evt-charged-1</a></li></ul>`,
		"<td>0</td><td>action</td>", "<td>1</td><td>action</td>", `{&#34;id&#34;:&#34;o-1&#34;}`)
	// A command's id has slashes: its trace link is one path segment.
	if _, body := e.get("/trace/o-1%2F0%2Fdo%2F1"); strings.Contains(body, "no page at") || !strings.Contains(body, "o-1/0/do/1") {
		t.Fatalf("a command's trace link does not reach the trace page:\n%s", clip(body))
	}
	if strings.Contains(body, "retry-form") || strings.Contains(body, "abort-form") {
		t.Fatalf("a done saga offers a retry or an abort:\n%s", clip(body))
	}
	_, body = e.get("/sagas/o-3")
	mustContain(t, "/sagas/o-3", body, "stuck", "<td>0</td><td>compensation</td>", "evt-release-failed-3", `id="retry-form"`)
	_, body = e.get("/sagas/o-2")
	mustContain(t, "/sagas/o-2", body, "running", `id="abort-form"`)

	status, body = e.get("/sagas/o-9")
	if status != http.StatusNotFound || !strings.Contains(body, `id="error-message"`) || !strings.Contains(body, "no such instance") {
		t.Fatalf("unknown saga: %d\n%s", status, clip(body))
	}

	// Requests: the confirmation is required, the state is checked.
	if status, body = e.post("/sagas/o-3/retry", url.Values{"confirm": {"o-"}}); status != http.StatusBadRequest || !strings.Contains(body, "type its id") {
		t.Fatalf("retry without confirmation: %d\n%s", status, clip(body))
	}
	if status, body = e.post("/sagas/o-1/retry", url.Values{"confirm": {"o-1"}}); status != http.StatusConflict || !strings.Contains(body, "only a stuck saga") {
		t.Fatalf("retry of a done saga: %d\n%s", status, clip(body))
	}
	if status, _ = e.post("/sagas/o-9/abort", url.Values{"confirm": {"o-9"}}); status != http.StatusNotFound {
		t.Fatalf("abort of no saga: %d", status)
	}
	if status, _ = e.post("/sagas/o-2/abort", url.Values{"confirm": {"o-2"}, "csrf": {"stale"}}); status != http.StatusForbidden {
		t.Fatalf("abort with a stale token: %d", status)
	}
	if status, body = e.post("/sagas/o-3/retry", url.Values{"confirm": {"o-3"}}); status != http.StatusOK || !strings.Contains(body, "retry requested") {
		t.Fatalf("retry: %d\n%s", status, clip(body))
	}
	if status, body = e.post("/sagas/o-2/abort", url.Values{"confirm": {"o-2"}, "reason": {"out of stock"}}); status != http.StatusOK || !strings.Contains(body, "abort requested") {
		t.Fatalf("abort: %d\n%s", status, clip(body))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	testenv.CheckFor(t, 10*time.Second, func() error {
		_, body := e.get("/sagas?state=compensating")
		if !strings.Contains(body, `href="/sagas/o-2"`) || !strings.Contains(body, `href="/sagas/o-3"`) {
			return fmt.Errorf("the requests are not carried out yet:\n%s", clip(body))
		}
		return nil
	})
	_, body = e.get("/sagas/o-2")
	mustContain(t, "/sagas/o-2", body, "<td>abort</td>", "out of stock")
}

// TestProjectionsPage: position, head, lag and state of each projection,
// the poisoned event's position and error, and a rebuild requested from
// the form (after the confirmation) that a runner carries out.
func TestProjectionsPage(t *testing.T) {
	r := projFixture(t)
	e := newEnvWith(t, func(c *console.Config) { c.Projections = r })
	status, body := e.get("/projections")
	if status != http.StatusOK {
		t.Fatalf("/projections: %d", status)
	}
	mustContain(t, "/projections", body, `href="/projections"`,
		`<tr id="projection-totals"><td>totals</td><td>totals_g1</td><td>11</td><td>11</td><td>0</td><td><span class="tag state-running">running</span></td>`,
		`<tr id="projection-fragile"><td>fragile</td><td>fragile_g1</td><td>10</td><td>11</td><td>1</td><td><span class="tag state-stopped">stopped</span></td>`,
		"stopped at event 11: ", "cannot read poison", `action="/projections/fragile/rebuild"`)

	if status, body = e.post("/projections/totals/rebuild", url.Values{"confirm": {"fragile"}}); status != http.StatusBadRequest || !strings.Contains(body, "type its name") {
		t.Fatalf("rebuild without confirmation: %d\n%s", status, clip(body))
	}
	if status, _ = e.post("/projections/nope/rebuild", url.Values{"confirm": {"nope"}}); status != http.StatusNotFound {
		t.Fatalf("rebuild of no projection: %d", status)
	}
	if status, body = e.post("/projections/totals/rebuild", url.Values{"confirm": {"totals"}}); status != http.StatusOK || !strings.Contains(body, "Rebuild of totals requested") {
		t.Fatalf("rebuild: %d\n%s", status, clip(body))
	}
	mustContain(t, "after the request", body, "rebuild-requested")
	if strings.Contains(body, `action="/projections/totals/rebuild"`) {
		t.Fatalf("a requested rebuild is offered again:\n%s", clip(body))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	testenv.CheckFor(t, 20*time.Second, func() error {
		_, body := e.get("/projections")
		if !strings.Contains(body, `<tr id="projection-totals"><td>totals</td><td>totals_g2</td><td>11</td>`) {
			return fmt.Errorf("the rebuild has not switched yet:\n%s", clip(body))
		}
		return nil
	})
}

// TestNoSagaPages: without the sources there are no such pages.
func TestNoSagaPages(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/sagas", "/sagas/o-1", "/projections"} {
		if status, _ := e.get(p); status != http.StatusNotFound {
			t.Fatalf("%s without a source: %d", p, status)
		}
	}
	if _, body := e.get("/"); strings.Contains(body, `href="/sagas"`) || strings.Contains(body, `href="/projections"`) {
		t.Fatal("the navigation links pages the console does not have")
	}
}

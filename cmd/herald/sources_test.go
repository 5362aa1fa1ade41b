package main

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
	espg "github.com/heraldhq/herald/eventstore/postgres"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/outbox/sqlite"
	"github.com/heraldhq/herald/projection"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
	"github.com/heraldhq/herald/saga"
)

// sagaDB makes a SQLite file holding one running instance, "o-1", of a
// one-step saga, as a service's saga runner leaves it.
func sagaDB(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sagas.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ob, err := sqlite.New(ctx, db, sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := saga.NewStore(ctx, db, ob, saga.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := saga.NewRunner(saga.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Register(saga.Definition{Name: "order", Steps: []saga.Step{
		{Name: "pay", Action: saga.Action{Topic: "payments", Command: "charge", Success: "charged", Failure: "declined"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start(ctx, "order", "o-1", map[string]string{"id": "o-1"}); err != nil {
		t.Fatal(err)
	}
	return path
}

// projectionDB makes a projection "totals" in PostgreSQL (tables with a
// unique prefix, dropped after the test) applied to the first of two
// events; it returns the DSN and the flags that name the tables.
func projectionDB(t *testing.T) (dsn string, flags []string) {
	t.Helper()
	ctx := context.Background()
	dsn = pubsubtest.PostgresDSN(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	schema := pubsubtest.UniqueName("srcflags")
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE") })
	store, err := espg.New(ctx, db, espg.Config{Prefix: schema + ".events"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := projection.New(ctx, db, projection.Postgres, store, projection.Config{Table: schema + ".projections", Batch: 1})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Register(ctx, projection.Projection{Name: schema + ".totals",
		Setup: func(ctx context.Context, tx *sql.Tx, table string) error {
			_, err := tx.ExecContext(ctx, "CREATE TABLE "+table+" (id TEXT PRIMARY KEY)")
			return err
		},
		Apply: func(ctx context.Context, tx *sql.Tx, table string, r eventstore.Recorded) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (id) VALUES ($1)", r.ID)
			return err
		}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := store.Append(ctx, "s-1", eventstore.Any, event.New("/t", "x", nil)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := r.Step(ctx, schema+".totals"); err != nil || n != 1 {
		t.Fatalf("step: %d %v", n, err)
	}
	return dsn, []string{"--projection-table", schema + ".projections", "--projection-events", schema + ".events"}
}

// TestConsoleSourceFlags: herald console and herald serve show the sagas
// of --saga-db (SQLite) and the projections of --projection-db
// (PostgreSQL); a database that is not there stops the command with the
// reason.
func TestConsoleSourceFlags(t *testing.T) {
	sagas := sagaDB(t)
	pgDSN, pgFlags := projectionDB(t)
	b := heraldtest.NewBroker(t, heraldtest.WithTopics(1, "orders"))

	addr := freeAddr(t)
	stop := runUntil(t, append([]string{"console", "--brokers", b.Addr(), "--listen", addr, "--log-level", "error",
		"--saga-db", sagas, "--projection-db", pgDSN}, pgFlags...)...)
	defer stop()
	waitGet(t, "http://"+addr+"/sagas", `href="/sagas/o-1"`)
	waitGet(t, "http://"+addr+"/sagas/o-1", `id="abort-form"`)
	waitGet(t, "http://"+addr+"/projections", "<td>1</td><td>2</td><td>1</td>") // position, head, lag
	if status, _ := get(t, "http://"+addr+"/sagas/o-2"); status != http.StatusNotFound {
		t.Errorf("unknown saga: %d", status)
	}
	stop()

	httpAddr := freeAddr(t)
	stopServe := runUntil(t, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--registry-listen", "",
		"--http-listen", httpAddr, "--log-level", "error", "--saga-db", "sqlite:"+sagas)
	defer stopServe()
	waitGet(t, "http://"+httpAddr+"/sagas/o-1", "running")
	if status, _ := get(t, "http://"+httpAddr+"/projections"); status != http.StatusNotFound {
		t.Errorf("/projections without --projection-db: %d", status)
	}
	stopServe()

	missing := filepath.Join(t.TempDir(), "missing.db")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := runCLI(t, ctx, "console", "--brokers", b.Addr(), "--listen", freeAddr(t), "--saga-db", missing)
	if err == nil || !strings.Contains(err.Error(), "saga database") || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("a missing --saga-db: %v", err)
	}
}

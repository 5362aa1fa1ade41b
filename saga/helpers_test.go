package saga_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/postgres"
	"github.com/heraldhq/herald/outbox/sqlite"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
	"github.com/heraldhq/herald/saga"
)

// backend is one database under test: its outbox and how to open the
// saga store on it again (another worker, or a restarted process).
type backend struct {
	name string
	ob   outbox.Store
	open func(t testing.TB) (*sql.DB, *saga.Store)
}

// backends are SQLite (a file) and PostgreSQL (unique tables), for the
// conformance tests.
func backends() []func(t testing.TB) backend {
	return []func(t testing.TB) backend{sqliteBackend, postgresBackend}
}

func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate"
}

func sqliteBackend(t testing.TB) backend {
	path := filepath.Join(t.TempDir(), "saga.db")
	return sqliteBackendAt(t, path)
}

func sqliteBackendAt(t testing.TB, path string) backend {
	open := func(t testing.TB) (*sql.DB, outbox.Store, *saga.Store) {
		db, err := sql.Open("sqlite", sqliteDSN(path))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		ob, err := sqlite.New(context.Background(), db, sqlite.Config{Lease: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		st, err := saga.NewStore(context.Background(), db, ob, saga.StoreConfig{Dialect: saga.SQLite})
		if err != nil {
			t.Fatal(err)
		}
		return db, ob, st
	}
	_, ob, _ := open(t)
	return backend{name: "sqlite", ob: ob, open: func(t testing.TB) (*sql.DB, *saga.Store) {
		db, _, st := open(t)
		return db, st
	}}
}

func postgresBackend(t testing.TB) backend {
	prefix := pubsubtest.UniqueName("saga")
	dsn := pubsubtest.PostgresDSN(t)
	open := func(t testing.TB) (*sql.DB, outbox.Store, *saga.Store) {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		ob, err := postgres.New(context.Background(), db, postgres.Config{Table: prefix + "_outbox"})
		if err != nil {
			t.Fatalf("postgres (run scripts/ensure-postgres.sh as root): %v", err)
		}
		st, err := saga.NewStore(context.Background(), db, ob, saga.StoreConfig{Dialect: saga.Postgres, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return db, ob, st
	}
	db, ob, _ := open(t)
	t.Cleanup(func() {
		for _, tb := range []string{"_outbox", "_instances", "_history", "_replies", "_requests"} {
			db.Exec("DROP TABLE IF EXISTS " + prefix + tb)
		}
	})
	return backend{name: "postgres", ob: ob, open: func(t testing.TB) (*sql.DB, *saga.Store) {
		db, _, st := open(t)
		return db, st
	}}
}

func forEachBackend(t *testing.T, f func(t *testing.T, be backend)) {
	for _, mk := range backends() {
		be := mk(t)
		t.Run(be.name, func(t *testing.T) { f(t, be) })
	}
}

func logger() *slog.Logger {
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

func newRunner(t testing.TB, st *saga.Store, defs ...saga.Definition) *saga.Runner {
	t.Helper()
	r, err := saga.NewRunner(saga.Config{Store: st, PollInterval: 20 * time.Millisecond, Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		if err := r.Register(d); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// pending returns the commands waiting in the outbox, leaving them there.
func pending(t testing.TB, ob outbox.Store) []outbox.Message {
	t.Helper()
	b, err := ob.Claim(context.Background(), "test-peek", 10000)
	if err != nil {
		t.Fatal(err)
	}
	msgs := b.Messages()
	if err := b.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	return msgs
}

package postgres

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/eventstoretest"
	"github.com/heraldhq/herald/eventstore/internal/sqlstore"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// newDB returns a database handle with a schema of its own, dropped when
// the test ends; the prefix names tables in that schema.
func newDB(t testing.TB) (db *sql.DB, prefix string) {
	t.Helper()
	db, err := sql.Open("pgx", pubsubtest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	schema := pubsubtest.UniqueName("es")
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		db.Close()
	})
	return db, schema + ".events"
}

func newStoreT(t testing.TB) eventstore.Store {
	t.Helper()
	db, prefix := newDB(t)
	s, err := New(context.Background(), db, Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store { return newStoreT(t) })
}

// TestConformanceWithHooks runs the suite on a store with a hook, whose
// appends all take the general path (statement by statement in a
// database/sql transaction, synchronous commit) instead of the pipelined
// one; the hook must see the positions.
func TestConformanceWithHooks(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		db, prefix := newDB(t)
		hook := func(_ context.Context, _ *sql.Tx, recs []eventstore.Recorded) error {
			if recs[0].Position == 0 {
				return errors.New("hook sees no position")
			}
			return nil
		}
		s, err := New(context.Background(), db, Config{Prefix: prefix, Hooks: []eventstore.TxHook{hook}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestConformanceFilterInSQL runs the suite on a store that applies the
// streams' bounds to $all in Go for at most 2 bounded streams and in SQL
// for more (HiddenInAll has 5).
func TestConformanceFilterInSQL(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		db, prefix := newDB(t)
		s, err := sqlstore.New(context.Background(), db, dialect, sqlstore.Config{Prefix: prefix, MaxBounded: 2})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

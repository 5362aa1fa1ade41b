package postgres

import (
	"context"
	"database/sql"
	"testing"

	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/eventstoretest"
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

package usermod

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/sqlite"
	"github.com/heraldhq/herald/projection"
)

// TestEventSourcing uses the event store and a projection from outside
// Herald's module: an aggregate appends, a projection keeps a count.
func TestEventSourcing(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := sqlite.New(ctx, db, sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	agg := eventstore.Aggregate[int, int]{
		Evolve: func(n int, _ eventstore.Recorded) (int, error) { return n + 1, nil },
		Decide: func(int, int) ([]event.Event, error) {
			return []event.Event{event.New("/usermod", "ticked", nil)}, nil
		},
	}
	for range 3 {
		if _, _, err := agg.Handle(ctx, store, "clock", 0); err != nil {
			t.Fatal(err)
		}
	}
	r, err := projection.New(ctx, db, projection.SQLite, store, projection.Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Register(ctx, projection.Projection{
		Name: "ticks",
		Setup: func(ctx context.Context, tx *sql.Tx, table string) error {
			_, err := tx.ExecContext(ctx, "CREATE TABLE "+table+" (id TEXT PRIMARY KEY)")
			return err
		},
		Apply: func(ctx context.Context, tx *sql.Tx, table string, e eventstore.Recorded) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO "+table+" VALUES (?)", e.ID)
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Step(ctx, "ticks"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM ticks").Scan(&n); err != nil || n != 3 {
		t.Fatalf("ticks %d, %v", n, err)
	}
}

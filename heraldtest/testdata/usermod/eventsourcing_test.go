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
	"github.com/heraldhq/herald/pubsub"
	"github.com/twmb/franz-go/pkg/kgo"
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
	// An operator's rebuild request (herald projection rebuild), carried
	// out by the runner.
	if err := r.RequestRebuild(ctx, "ticks"); err != nil {
		t.Fatal(err)
	}
	if st, err := r.Status(ctx); err != nil || len(st) != 1 || !st[0].RebuildRequested {
		t.Fatalf("status %+v, %v", st, err)
	}
	if n, ran, err := r.MaybeRebuild(ctx, "ticks"); err != nil || !ran || n != 3 {
		t.Fatalf("rebuild: ran %v, %d events, %v", ran, n, err)
	}
}

// TestTopicProjection feeds a read model from Kafka messages through the
// handler a pubsub router would call; a redelivery is not applied again.
func TestTopicProjection(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := projection.New(ctx, db, projection.SQLite, nil, projection.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.TopicHandler(ctx, projection.TopicProjection{
		Name: "seen",
		Setup: func(ctx context.Context, tx *sql.Tx, table string) error {
			_, err := tx.ExecContext(ctx, "CREATE TABLE "+table+" (id TEXT PRIMARY KEY)")
			return err
		},
		Apply: func(ctx context.Context, tx *sql.Tx, table string, m *pubsub.Message) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO "+table+" VALUES (?)", m.Event.ID)
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := &pubsub.Message{Event: event.New("/usermod", "seen", nil), Record: &kgo.Record{Topic: "t", Key: []byte("k"), Offset: 7}}
	for range 2 {
		if err := h(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if m.Outcome() != pubsub.Deduplicated {
		t.Fatalf("redelivery outcome %v", m.Outcome())
	}
}

package dedup_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/dedup"
)

func ExampleMiddleware() {
	h := pubsub.Chain(func(_ context.Context, m *pubsub.Message) error {
		fmt.Println("charged for", m.Event.ID)
		return nil
	}, dedup.Middleware(dedup.NewMemory(time.Hour)))
	m := &pubsub.Message{Event: event.Event{ID: "evt-1"}, Group: "billing"}
	_ = h(context.Background(), m)
	_ = h(context.Background(), m) // delivered again: skipped
	// Output: charged for evt-1
}

// The event id and the handler's write commit in one transaction: a
// second delivery finds the id and does nothing.
func ExampleSQL_InTx() {
	ctx := context.Background()
	path := filepath.Join(os.TempDir(), event.NewID()+".db")
	defer os.Remove(path)
	db, _ := sql.Open("sqlite", "file:"+path)
	defer db.Close()
	_, _ = db.ExecContext(ctx, "CREATE TABLE charges (order_id TEXT)")
	store, err := dedup.NewSQL(ctx, db, dedup.SQLite, "herald_dedup")
	if err != nil {
		fmt.Println(err)
		return
	}
	h := store.InTx(func(ctx context.Context, tx *sql.Tx, m *pubsub.Message) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO charges VALUES (?)", m.Event.Key)
		return err
	})
	m := &pubsub.Message{Event: event.Event{ID: "evt-1", Key: "o-1"}, Group: "billing"}
	for range 2 {
		err := h(ctx, m)
		fmt.Println(m.Outcome(), err)
	}
	var n int
	_ = db.QueryRowContext(ctx, "SELECT count(*) FROM charges").Scan(&n)
	fmt.Println("charges:", n)
	// Output:
	// handled <nil>
	// deduplicated <nil>
	// charges: 1
}

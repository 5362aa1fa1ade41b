package projection_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/sqlite"
	"github.com/heraldhq/herald/projection"
)

// A read model of orders per status, kept by an async projection and
// rebuilt into a new table.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "projection")
	defer os.RemoveAll(dir)
	db, _ := sqlite.Open(filepath.Join(dir, "app.db"))
	defer db.Close()
	store, _ := sqlite.New(ctx, db, sqlite.Config{})
	runner, _ := projection.New(ctx, db, projection.SQLite, store, projection.Config{})
	_ = runner.Register(ctx, projection.Projection{
		Name: "order_status",
		Setup: func(ctx context.Context, tx *sql.Tx, table string) error {
			_, err := tx.ExecContext(ctx, "CREATE TABLE "+table+" (id TEXT PRIMARY KEY, status TEXT)")
			return err
		},
		Apply: func(ctx context.Context, tx *sql.Tx, table string, e eventstore.Recorded) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO "+table+" VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status",
				e.Stream, string(e.Data))
			return err
		},
	})
	for _, s := range []struct{ order, status string }{{"order-1", "placed"}, {"order-2", "placed"}, {"order-1", "paid"}} {
		_, _ = store.Append(ctx, s.order, eventstore.Any, event.New("/orders", "order."+s.status, []byte(s.status)))
	}
	for {
		if n, err := runner.Step(ctx, "order_status"); n == 0 || err != nil {
			break
		}
	}
	var status string
	_ = db.QueryRow("SELECT status FROM order_status WHERE id = 'order-1'").Scan(&status)
	st, _ := runner.Status(ctx)
	fmt.Println("order-1", status, "position", st[0].Position, "lag", st[0].Lag)

	n, err := runner.Rebuild(ctx, "order_status")
	st, _ = runner.Status(ctx)
	fmt.Println("rebuilt", n, err, "table", st[0].Table)
	// Output:
	// order-1 paid position 3 lag 0
	// rebuilt 3 <nil> table order_status_g2
}

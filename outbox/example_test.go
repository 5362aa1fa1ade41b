package outbox_test

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/sqlite"
)

// The business change and its event commit together; the relay publishes.
func Example() {
	ctx := context.Background()
	db, _ := sql.Open("sqlite", "file:example?mode=memory&cache=shared")
	defer db.Close()
	store, _ := sqlite.New(ctx, db, sqlite.Config{})
	_, _ = db.Exec(`CREATE TABLE orders (id TEXT PRIMARY KEY, state TEXT)`)

	tx, _ := db.BeginTx(ctx, nil)
	_, _ = tx.Exec(`INSERT INTO orders VALUES ('o-1', 'placed')`)
	e := event.New("/orders", "order.placed", []byte(`{"id":"o-1"}`))
	e.Key = "o-1"
	_ = outbox.Write(ctx, tx, store, "orders", e)
	_ = tx.Commit()

	broker, _ := heraldtest.Start(heraldtest.WithDurability("none"), heraldtest.WithTopics(1, "orders"))
	defer broker.Close()
	cl, _ := kgo.NewClient(kgo.SeedBrokers(broker.Addr()), kgo.ConsumeTopics("orders"))
	defer cl.Close()
	relay, _ := outbox.NewRelay(store, cl, outbox.RelayConfig{})
	n, err := relay.RunOnce(ctx)
	fmt.Println("published", n, err)

	rec := cl.PollFetches(ctx).Records()[0]
	got, _ := event.FromRecord(rec)
	fmt.Println(got.Type, got.Key, got.ID == e.ID)
	// Output:
	// published 1 <nil>
	// order.placed o-1 true
}

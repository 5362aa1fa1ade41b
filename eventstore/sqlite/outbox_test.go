package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/eventstoretest"
	"github.com/heraldhq/herald/eventstore/sqlite"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/outbox"
	obsqlite "github.com/heraldhq/herald/outbox/sqlite"
)

// TestPublishThroughOutbox appends through a store whose hook writes the
// outbox in the append's transaction, relays to a real broker, and reads
// the events back with a Kafka client: keyed by stream, in stream order.
// A refused append publishes nothing.
func TestPublishThroughOutbox(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ob, err := obsqlite.New(ctx, db, obsqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.New(ctx, db, sqlite.Config{Hooks: []eventstore.TxHook{eventstore.OutboxHook(ob, "orders")}})
	if err != nil {
		t.Fatal(err)
	}
	placed, paid := eventstoretest.Event("order.placed", "1"), eventstoretest.Event("order.paid", "2")
	if _, err := s.Append(ctx, "order-7", eventstore.NoStream, placed, paid); err != nil {
		t.Fatal(err)
	}
	var ce *eventstore.ConflictError
	if _, err := s.Append(ctx, "order-7", eventstore.NoStream, eventstoretest.Event("order.placed", "3")); !errors.As(err, &ce) {
		t.Fatalf("conflicting append: %v", err)
	}
	broker := heraldtest.NewBroker(t, heraldtest.WithDurability("none"), heraldtest.WithTopics(1, "orders"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr()), kgo.ConsumeTopics("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	relay, err := outbox.NewRelay(ob, cl, outbox.RelayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := relay.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("relay published %d (%v), want the 2 committed events", n, err)
	}
	var got []event.Event
	for len(got) < 2 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		for _, r := range fs.Records() {
			e, err := event.FromRecord(r)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e)
		}
	}
	if got[0].ID != placed.ID || got[1].ID != paid.ID || got[0].Key != "order-7" || got[1].Key != "order-7" {
		t.Fatalf("published %+v", got)
	}
	if n, err := relay.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("second relay round published %d (%v)", n, err)
	}
}

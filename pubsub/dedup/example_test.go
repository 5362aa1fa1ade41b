package dedup_test

import (
	"context"
	"fmt"
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

package eventstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/outbox"
)

// Notifier is implemented by stores that can wake a subscriber when an
// append through them commits, instead of it waiting for its next poll.
type Notifier interface {
	// Notify returns a channel closed at the next commit.
	Notify() <-chan struct{}
}

// SubscribeOptions tune Subscribe.
type SubscribeOptions struct {
	// Batch is the number of events read at a time; default 256.
	Batch int
	// Poll is how often the subscription looks for new events when the
	// store cannot notify it (or the appends come from another process);
	// default 100ms.
	Poll time.Duration
}

// Subscribe calls h with every event of $all after position after: first
// those already stored (catch-up), then new ones as they commit (live),
// in position order, one at a time. The caller keeps its checkpoint (the
// last position h handled) and passes it back to resume. Subscribe returns
// when ctx ends (ctx.Err()) or h fails (its error, wrapped with the
// position). Subscribers only read: a slow one never makes a writer wait.
func Subscribe(ctx context.Context, s Store, after int64, opts SubscribeOptions, h func(context.Context, Recorded) error) error {
	if opts.Batch <= 0 {
		opts.Batch = 256
	}
	if opts.Poll <= 0 {
		opts.Poll = 100 * time.Millisecond
	}
	n, _ := s.(Notifier)
	t := time.NewTicker(opts.Poll)
	defer t.Stop()
	for {
		var wake <-chan struct{}
		if n != nil {
			wake = n.Notify() // before the read: a commit after it closes wake
		}
		recs, err := s.ReadAll(ctx, after, opts.Batch)
		if err != nil {
			return fmt.Errorf("eventstore: subscription after %d: %w", after, err)
		}
		for _, r := range recs {
			if err := h(ctx, r); err != nil {
				return fmt.Errorf("eventstore: subscription: event at %d: %w", r.Position, err)
			}
			after = r.Position
		}
		if len(recs) == opts.Batch {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-t.C:
		}
	}
}

// OutboxHook returns a TxHook that writes every appended event to the
// outbox ob for topic, in the append's transaction, keyed by stream: the
// relay then publishes them in stream order, and an event is published if
// and only if its append committed (no dual write).
func OutboxHook(ob outbox.Store, topic string) TxHook {
	return func(ctx context.Context, tx *sql.Tx, recs []Recorded) error {
		evs := make([]event.Event, len(recs))
		for i, r := range recs {
			e := r.Event
			e.Key = r.Stream
			evs[i] = e
		}
		return outbox.Write(ctx, tx, ob, topic, evs...)
	}
}

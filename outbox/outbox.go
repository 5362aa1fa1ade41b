package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
)

// Message is one outbox row: a record waiting to be published.
type Message struct {
	Seq     int64  // position in the outbox, assigned by the store; publish order
	ID      string // event id
	Topic   string
	Key     string // the aggregate: rows with one key are published in Seq order
	Headers []kgo.RecordHeader
	Value   []byte
}

// Store is an outbox table.
//
// Implementations must be safe for concurrent use by several relays, in
// one process or many: a row is handed to one relay at a time.
type Store interface {
	// Insert adds messages within tx, the caller's transaction that also
	// holds the business change; they become visible when tx commits.
	Insert(ctx context.Context, tx *sql.Tx, msgs []Message) error
	// Claim hands relay up to n rows no other relay holds. The batch's
	// Messages are those that may be published now: in Seq order, and for
	// each key only rows with no earlier unpublished row held elsewhere.
	// The caller must end the batch with Done or Release.
	Claim(ctx context.Context, relay string, n int) (Batch, error)
}

// Batch is a claim on outbox rows.
type Batch interface {
	// Messages returns the claimed rows to publish, in Seq order.
	Messages() []Message
	// Done removes the published rows (by Seq) and releases the rest.
	Done(ctx context.Context, published []int64) error
	// Release gives every row back unpublished.
	Release(ctx context.Context) error
}

// Write adds events to the outbox within tx, for topic. Events get
// correlation and causation ids from ctx (see event.Link), so writing from
// a handler links them to the handled event.
func Write(ctx context.Context, tx *sql.Tx, s Store, topic string, evs ...event.Event) error {
	msgs := make([]Message, 0, len(evs))
	var errs []error
	for _, e := range evs {
		if e.SpecVersion == "" {
			e.SpecVersion = event.SpecVersion
		}
		e = event.Link(ctx, e)
		if err := e.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("outbox: event %s: %w", e.ID, err))
			continue
		}
		msgs = append(msgs, Message{ID: e.ID, Topic: topic, Key: e.Key, Headers: e.Headers(), Value: e.Data})
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.Insert(ctx, tx, msgs)
}

// Record returns the Kafka record for m.
func (m Message) Record() *kgo.Record {
	r := &kgo.Record{Topic: m.Topic, Headers: m.Headers, Value: m.Value}
	if m.Key != "" {
		r.Key = []byte(m.Key)
	}
	return r
}

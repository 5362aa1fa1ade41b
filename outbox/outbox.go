package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"

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
	// TraceParent and TraceState are the W3C trace context of the
	// context that wrote the row (empty if it had none); the relay
	// publishes them as the record's traceparent and tracestate headers,
	// so that a trace runs from the write to every consumer.
	TraceParent, TraceState string
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
// a handler links them to the handled event, and the rows keep ctx's
// trace context (its span's traceparent and tracestate), which the relay
// publishes with them.
func Write(ctx context.Context, tx *sql.Tx, s Store, topic string, evs ...event.Event) error {
	msgs := make([]Message, 0, len(evs))
	tc := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, tc)
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
		msgs = append(msgs, Message{ID: e.ID, Topic: topic, Key: e.Key, Headers: e.Headers(), Value: e.Data,
			TraceParent: tc[headerTraceParent], TraceState: tc[headerTraceState]})
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.Insert(ctx, tx, msgs)
}

// The W3C trace context headers (part of the wire format; do not change).
const (
	headerTraceParent = "traceparent"
	headerTraceState  = "tracestate"
)

// Record returns the Kafka record for m, with m's trace context in the
// traceparent and tracestate headers (replacing any in m.Headers).
func (m Message) Record() *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(m.Headers)+2)
	for _, h := range m.Headers {
		if m.TraceParent == "" || (h.Key != headerTraceParent && h.Key != headerTraceState) {
			hs = append(hs, h)
		}
	}
	if m.TraceParent != "" {
		hs = append(hs, kgo.RecordHeader{Key: headerTraceParent, Value: []byte(m.TraceParent)})
		if m.TraceState != "" {
			hs = append(hs, kgo.RecordHeader{Key: headerTraceState, Value: []byte(m.TraceState)})
		}
	}
	r := &kgo.Record{Topic: m.Topic, Headers: hs, Value: m.Value}
	if m.Key != "" {
		r.Key = []byte(m.Key)
	}
	return r
}

package event

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kgo"
)

type ctxKey struct{}

// NewContext returns ctx carrying e as the event being handled. Publishers
// read it to set correlation and causation ids of events published while
// handling e.
func NewContext(ctx context.Context, e Event) context.Context {
	return context.WithValue(ctx, ctxKey{}, e)
}

// NewRecordContext is NewContext for the event rec carries, which it
// decodes only when FromContext asks for it, so that handlers that never
// publish do not pay for it. A record that is not a CloudEvent carries an
// event of only its key and data. rec must not change afterwards.
func NewRecordContext(ctx context.Context, rec *kgo.Record) context.Context {
	c := new(RecordContext)
	c.Init(ctx, rec)
	return c
}

// RecordContext is the context NewRecordContext returns, exported so that
// a consumer can allocate many at once. Call Init before use; the zero
// value is not a valid context.
type RecordContext struct {
	context.Context
	rec *kgo.Record
}

// Init makes c the context of rec under ctx (see NewRecordContext).
func (c *RecordContext) Init(ctx context.Context, rec *kgo.Record) {
	c.Context, c.rec = ctx, rec
}

// Value returns the event of the record for FromContext, and defers other
// keys to the parent context.
func (c *RecordContext) Value(k any) any {
	if _, ok := k.(ctxKey); !ok {
		return c.Context.Value(k)
	}
	e, err := FromRecord(c.rec)
	if errors.Is(err, ErrNotEvent) {
		e = Event{Key: string(c.rec.Key), Data: c.rec.Value}
	}
	return e
}

// FromContext returns the event ctx carries, if any.
func FromContext(ctx context.Context) (Event, bool) {
	e, ok := ctx.Value(ctxKey{}).(Event)
	return e, ok
}

// Link sets e's correlation and causation ids from the event ctx carries
// (see Event.Caused). An event published outside any handler starts its
// own flow: its correlation id is its own id.
func Link(ctx context.Context, e Event) Event {
	if parent, ok := FromContext(ctx); ok {
		return e.Caused(parent)
	}
	if e.CorrelationID == "" {
		e.CorrelationID = e.ID
	}
	return e
}

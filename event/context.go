package event

import "context"

type ctxKey struct{}

// NewContext returns ctx carrying e as the event being handled. Publishers
// read it to set correlation and causation ids of events published while
// handling e.
func NewContext(ctx context.Context, e Event) context.Context {
	return context.WithValue(ctx, ctxKey{}, e)
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

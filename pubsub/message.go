package pubsub

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
)

// Message is one record handed to a Handler.
//
// The handler must not keep Message or Record after it returns: the router
// reuses the Message for the record's next attempt.
type Message struct {
	// Event is the record's event. For a record that carries no CloudEvents
	// attributes only Key and Data are set.
	Event event.Event
	// Record is the Kafka record the event came in.
	Record *kgo.Record
	// Attempt counts deliveries to the handler: 1 the first time, 2 on the
	// first retry, and so on.
	Attempt int
	// Group is the router's consumer group.
	Group string
	// HighWatermark is the partition's end offset when the record was
	// fetched; HighWatermark-Record.Offset-1 records were behind it.
	HighWatermark int64
}

// Lag is how many records of the partition were after this one when it was
// fetched.
func (m *Message) Lag() int64 {
	if lag := m.HighWatermark - m.Record.Offset - 1; lag > 0 {
		return lag
	}
	return 0
}

// Handler handles one message. Returning nil acknowledges it; an error
// makes the router retry it (after a backoff, holding back only later
// events with the same key) and, after the last attempt or at once for a
// Permanent error, send it to the dead-letter topic.
//
// ctx carries the message's event (event.FromContext), so events published
// with ctx are linked to it. ctx is cancelled when the router loses the
// partition or its shutdown times out; a handler should then return
// promptly.
type Handler func(ctx context.Context, m *Message) error

// Middleware wraps a Handler. Middleware sees every attempt.
type Middleware func(Handler) Handler

// Chain applies mws to h so that mws[0] is the outermost.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// PermanentError marks a failure that retrying cannot fix: the router sends
// the message to the dead-letter topic without further attempts.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err is or wraps a PermanentError.
func IsPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}

// PanicError is the failure a recovered handler panic becomes.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panic: %v", e.Value) }

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Typed adapts a handler of decoded values: the event data is decoded into
// a T with codec c. Data that does not decode is a Permanent failure.
func Typed[T any](c event.Codec, h func(ctx context.Context, m *Message, v T) error) Handler {
	return func(ctx context.Context, m *Message) error {
		v, err := event.Decode[T](ctx, c, m.Event)
		if err != nil {
			return Permanent(err)
		}
		return h(ctx, m, v)
	}
}

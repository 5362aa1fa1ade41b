package pubsub

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	// Attempt is the number of this attempt: 1 plus the failed attempts
	// made before, by this router or, through the attempt record in the
	// committed offset, by earlier owners of the partition. Transient failures are not counted, so after one the
	// message comes again with the same Attempt.
	Attempt int
	// Group is the router's consumer group.
	Group string
	// HighWatermark is the partition's end offset when the record was
	// fetched; HighWatermark-Record.Offset-1 records were behind it. -1
	// (unknown) in work-queue mode.
	HighWatermark int64

	outcome Outcome // see SetOutcome
	// slab is the worker's, for contexts made per message by the
	// router's own middleware (Tracing); nil in a Message made elsewhere.
	slab *ctxSlab
}

// ctxSlab hands out unsampledCtx values a block at a time, so that the
// Tracing middleware allocates once per block of messages rather than once
// per message. It is owned by one worker goroutine. A value is handed out
// once and never reused, so a handler may keep its context; a block stays
// in memory while any of its contexts is referenced.
type ctxSlab struct{ free []unsampledCtx }

// ctxSlabSize is the number of contexts a block holds.
const ctxSlabSize = 64

// get returns an unused unsampledCtx; s may be nil.
func (s *ctxSlab) get() *unsampledCtx {
	if s == nil {
		return new(unsampledCtx)
	}
	if len(s.free) == 0 {
		s.free = make([]unsampledCtx, ctxSlabSize)
	}
	c := &s.free[0]
	s.free = s.free[1:]
	return c
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
// Permanent error, send it to the dead-letter topic. A Transient error is
// retried without counting as an attempt (see PermanentError).
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

// Failures are of three kinds, told apart by the error a handler returns:
//
//   - Permanent(err) (or an error wrapping a *PermanentError): retrying
//     cannot fix it, the message itself is at fault. The router sends it
//     to the dead-letter topic at once.
//   - Transient(err) (or an error wrapping one with a method
//     Transient() bool that returns true, such as srcodec's DecodeError
//     when the registry cannot be reached): the message is not at fault, a
//     dependency is (network, 5xx, a call that timed out). The router
//     retries it after the backoff for as long as it lasts; it does not
//     count toward MaxAttempts and never sends the message to the
//     dead-letter topic. Mark only what is really transient: a message
//     whose failures are all transient holds back its key until it
//     succeeds.
//   - Any other error: a failed attempt. The router retries it after the
//     backoff, and sends the message to the dead-letter topic after
//     MaxAttempts failed attempts.
//
// Permanent wins over Transient when an error is marked both ways.

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

// TransientError marks a failure that is not the message's fault: the
// router retries the message without counting the attempt (see above).
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return "transient: " + e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Transient reports true: the error is transient.
func (e *TransientError) Transient() bool { return true }

// Transient wraps err as a TransientError. Transient(nil) is nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &TransientError{Err: err}
}

// IsTransient reports whether err is marked transient: it is not
// Permanent, and the first error in its chain with a method
// Transient() bool reports true.
func IsTransient(err error) bool {
	if err == nil || IsPermanent(err) {
		return false
	}
	var t interface{ Transient() bool }
	return errors.As(err, &t) && t.Transient()
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
// a T with codec c. Data that does not decode is a Permanent failure,
// unless the codec marks its error transient (IsTransient; srcodec does
// when the schema registry cannot be reached or answers 5xx): then it is
// retried, without counting, until the registry answers.
func Typed[T any](c event.Codec, h func(ctx context.Context, m *Message, v T) error) Handler {
	return func(ctx context.Context, m *Message) error {
		v, err := event.Decode[T](ctx, c, m.Event)
		if err != nil {
			if IsTransient(err) {
				return err
			}
			return Permanent(err)
		}
		return h(ctx, m, v)
	}
}

// retryAfterError is a transient failure that asks for its retry after a
// given wait rather than the backoff (see Delay).
type retryAfterError struct {
	err  error
	wait time.Duration
}

func (e *retryAfterError) Error() string   { return e.err.Error() }
func (e *retryAfterError) Unwrap() error   { return e.err }
func (e *retryAfterError) Transient() bool { return true }

// retryAfter is the wait err asks for, or 0 for the backoff.
func retryAfter(err error) time.Duration {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return ra.wait
	}
	return 0
}

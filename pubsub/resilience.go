package pubsub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrHandlerTimeout is what an attempt that outlived its Timeout fails
// with (errors.Is). It counts as a failed attempt, whatever the handler
// returned.
var ErrHandlerTimeout = errors.New("pubsub: handler timed out")

// ErrCircuitOpen is the transient failure of an attempt that a
// CircuitBreaker did not let through.
var ErrCircuitOpen = errors.New("pubsub: circuit breaker open")

// ErrNotDue is the transient failure of an attempt that Delay put off.
var ErrNotDue = errors.New("pubsub: message not due yet")

// clock is time, replaceable in tests.
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

type timeoutError struct {
	d   time.Duration
	err error // what the handler returned; not unwrapped, so that it cannot make the attempt transient
}

func (e *timeoutError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("pubsub: handler timed out after %v", e.d)
	}
	return fmt.Sprintf("pubsub: handler timed out after %v: %v", e.d, e.err)
}

func (e *timeoutError) Unwrap() error { return ErrHandlerTimeout }

// Timeout gives each attempt a context with a deadline d from its start.
// An attempt that returns after its deadline failed with
// ErrHandlerTimeout, whatever the handler returned, and counts toward
// MaxAttempts. The router cannot stop a handler that ignores its context:
// a handler must return when ctx is done.
func Timeout(d time.Duration) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *Message) error {
			tctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			err := next(tctx, m)
			if ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
				return &timeoutError{d: d, err: err}
			}
			return err
		}
	}
}

// Throttle limits the attempts that pass through it to perSecond a
// second, in bursts of up to burst (a token bucket, full at the start).
// One Throttle is one bucket: in Router.Use it limits the router, in
// Handle one handler. An attempt waits for its token in the handler's
// worker, so the worker's other keys wait too; a wait ends early, failing
// the attempt, when the handler's context is done.
func Throttle(perSecond float64, burst int) Middleware {
	return throttle(perSecond, burst, realClock{})
}

func throttle(perSecond float64, burst int, clk clock) Middleware {
	if perSecond <= 0 || burst < 1 {
		panic(fmt.Sprintf("pubsub: Throttle(%v, %d): the rate must be > 0 and the burst >= 1", perSecond, burst))
	}
	b := &bucket{clk: clk, rate: perSecond, burst: float64(burst), tokens: float64(burst), last: clk.Now()}
	return func(next Handler) Handler {
		return func(ctx context.Context, m *Message) error {
			if err := b.take(ctx); err != nil {
				return err
			}
			return next(ctx, m)
		}
	}
}

type bucket struct {
	clk   clock
	rate  float64 // tokens a second
	burst float64

	mu     sync.Mutex
	tokens float64   // Invariant: 0 <= tokens <= burst, as of last
	last   time.Time // when tokens was brought up to date
}

// take waits for a token and takes it.
func (b *bucket) take(ctx context.Context) error {
	for {
		wait, ok := b.maybeTake()
		if ok {
			return nil
		}
		select {
		case <-b.clk.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// maybeTake takes a token if there is one, or says how long until there
// is.
func (b *bucket) maybeTake() (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clk.Now()
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(b.burst, b.tokens+el.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return max(time.Duration((1-b.tokens)/b.rate*float64(time.Second)), time.Microsecond), false
}

// CircuitBreaker stops calling the handler after failures consecutive
// failed attempts (Permanent failures, the data's fault, do not count):
// the circuit opens. While it is open, attempts fail at once with the
// transient ErrCircuitOpen, which does not count toward MaxAttempts, so
// no message is dead-lettered or lost for it: each waits, holding back
// its key, until the cool-down is over. Then the circuit is half-open:
// one attempt goes through; if it succeeds the circuit closes, if it
// fails it opens again for another cool-down.
//
// One CircuitBreaker is one circuit: in Router.Use it guards the whole
// router, in Handle one handler.
func CircuitBreaker(failures int, coolDown time.Duration) Middleware {
	return circuitBreaker(failures, coolDown, realClock{})
}

func circuitBreaker(failures int, coolDown time.Duration, clk clock) Middleware {
	if failures < 1 || coolDown <= 0 {
		panic(fmt.Sprintf("pubsub: CircuitBreaker(%d, %v): failures must be >= 1 and the cool-down > 0", failures, coolDown))
	}
	c := &circuit{clk: clk, threshold: failures, coolDown: coolDown}
	return func(next Handler) Handler {
		return func(ctx context.Context, m *Message) error {
			trial, wait, ok := c.allow()
			if !ok {
				return &retryAfterError{err: ErrCircuitOpen, wait: wait}
			}
			err := next(ctx, m)
			c.record(err, trial, ctx.Err() != nil)
			return err
		}
	}
}

type circuitState int

const (
	circuitClosed circuitState = iota
	circuitOpen
	circuitHalfOpen // one trial attempt in flight
)

type circuit struct {
	clk       clock
	threshold int
	coolDown  time.Duration

	mu       sync.Mutex
	state    circuitState
	fails    int       // consecutive failures while closed
	openedAt time.Time // when it last opened
}

// allow says whether an attempt may go through (and whether it is the
// half-open trial), or how long it should wait.
func (c *circuit) allow() (trial bool, wait time.Duration, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case circuitClosed:
		return false, 0, true
	case circuitOpen:
		if left := c.openedAt.Add(c.coolDown).Sub(c.clk.Now()); left > 0 {
			return false, left, false
		}
		c.state = circuitHalfOpen
		return true, 0, true
	}
	return false, 0, false // half-open: the trial is in flight; back off
}

// record moves the circuit on after an attempt it let through.
func (c *circuit) record(err error, trial, cancelled bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	failed := err != nil && !IsPermanent(err) && !cancelled
	switch {
	case trial && failed:
		c.state, c.openedAt = circuitOpen, c.clk.Now()
	case trial:
		c.state, c.fails = circuitClosed, 0
	case c.state != circuitClosed:
		// Let through before the circuit opened; the circuit has moved on.
	case failed:
		if c.fails++; c.fails >= c.threshold {
			c.state, c.openedAt, c.fails = circuitOpen, c.clk.Now(), 0
		}
	case err == nil:
		c.fails = 0
	}
}

// Delay handles each message no earlier than d after its record's
// timestamp. An attempt that comes earlier fails with the transient
// ErrNotDue, asking to be retried when the message is due: its key waits
// (parked, as in a retry; later records of the key stay behind it) while
// the other keys flow, and the attempt does not count toward MaxAttempts.
//
// Put Delay first in Router.Use (outermost): middleware outside it sees
// each early attempt as a failure (Logging warns, Metrics counts it).
func Delay(d time.Duration) Middleware { return delay(d, realClock{}) }

func delay(d time.Duration, clk clock) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *Message) error {
			if wait := m.Record.Timestamp.Add(d).Sub(clk.Now()); wait > 0 {
				return &retryAfterError{err: ErrNotDue, wait: wait}
			}
			return next(ctx, m)
		}
	}
}

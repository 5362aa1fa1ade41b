package pubsub

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// fakeClock moves only when told to.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), c: ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
		} else {
			t.c <- c.now
		}
	}
	c.timers = kept
}

func (c *fakeClock) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func testMessage(ts time.Time) *Message {
	return &Message{Record: &kgo.Record{Topic: "t", Timestamp: ts}, Attempt: 1}
}

// TestThrottleTokenBucket: a burst of 3 passes at once, then one attempt
// per 1/rate of clock time; waiting attempts give up when their context
// is done, without reaching the handler.
func TestThrottleTokenBucket(t *testing.T) {
	clk := newFakeClock()
	var calls atomic.Int64
	h := throttle(1, 3, clk)(func(context.Context, *Message) error { calls.Add(1); return nil })
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var cancelled atomic.Int64
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h(ctx, testMessage(clk.Now())); errors.Is(err, context.Canceled) {
				cancelled.Add(1)
			}
		}()
	}
	state := func(c int64, w int) func() bool {
		return func() bool { return calls.Load() == c && clk.waiting() == w }
	}
	eventually(t, "the burst of 3, 7 waiting", state(3, 7))
	clk.Advance(time.Second)
	eventually(t, "one more after 1s", state(4, 6))
	clk.Advance(500 * time.Millisecond)
	eventually(t, "none more after half a token", state(4, 6))
	clk.Advance(1500 * time.Millisecond)
	eventually(t, "two more after 2 more tokens", state(6, 4))
	cancel()
	wg.Wait()
	if calls.Load() != 6 || cancelled.Load() != 4 {
		t.Fatalf("calls %d, cancelled %d; want 6 and 4", calls.Load(), cancelled.Load())
	}
}

// TestCircuitBreakerStates: closed, open after 2 consecutive failures
// (rejecting at once, transiently, with the cool-down left to wait),
// half-open after the cool-down with one trial that reopens it on failure
// and closes it on success; Permanent failures do not count.
func TestCircuitBreakerStates(t *testing.T) {
	clk := newFakeClock()
	var calls atomic.Int64
	var fail error
	block := make(chan struct{})
	var blocking atomic.Bool
	h := circuitBreaker(2, 10*time.Second, clk)(func(context.Context, *Message) error {
		calls.Add(1)
		if blocking.Load() {
			<-block
		}
		return fail
	})
	ctx := context.Background()
	call := func() error { return h(ctx, testMessage(clk.Now())) }
	expectOpen := func(wait time.Duration) {
		t.Helper()
		before := calls.Load()
		err := call()
		if !errors.Is(err, ErrCircuitOpen) || !IsTransient(err) || retryAfter(err) != wait || calls.Load() != before {
			t.Fatalf("open circuit: err %v (transient %v, wait %v), handler called %d times; want ErrCircuitOpen, transient, wait %v, no call",
				err, IsTransient(err), retryAfter(err), calls.Load()-before, wait)
		}
	}

	fail = Permanent(errors.New("bad data"))
	for range 5 {
		if err := call(); !IsPermanent(err) {
			t.Fatalf("closed circuit: %v", err)
		}
	}
	fail = errors.New("down")
	_ = call()
	fail = nil
	_ = call() // a success resets the count
	fail = errors.New("down")
	_ = call()
	if calls.Load() != 8 {
		t.Fatalf("calls %d: the circuit opened early", calls.Load())
	}
	_ = call() // second consecutive failure: opens
	expectOpen(10 * time.Second)
	clk.Advance(4 * time.Second)
	expectOpen(6 * time.Second)
	clk.Advance(6 * time.Second)
	if err := call(); err == nil || errors.Is(err, ErrCircuitOpen) || calls.Load() != 10 {
		t.Fatalf("half-open trial: %v, calls %d; want the handler's failure", err, calls.Load())
	}
	expectOpen(10 * time.Second) // the failed trial reopened it
	clk.Advance(10 * time.Second)

	// A successful trial closes it; while the trial runs, others wait.
	fail = nil
	blocking.Store(true)
	trial := make(chan error, 1)
	go func() { trial <- call() }()
	eventually(t, "the trial in the handler", func() bool {
		return calls.Load() == 11
	})
	expectOpen(0)
	close(block)
	if err := <-trial; err != nil {
		t.Fatalf("trial: %v", err)
	}
	blocking.Store(false)
	for range 3 {
		if err := call(); err != nil {
			t.Fatalf("closed again: %v", err)
		}
	}
	if calls.Load() != 14 {
		t.Fatalf("calls %d, want 14", calls.Load())
	}
}

// TestDelayNotDue: a message is handed on no earlier than its timestamp
// plus d; before, the attempt fails transiently asking for the rest.
func TestDelayNotDue(t *testing.T) {
	clk := newFakeClock()
	var calls int
	h := delay(5*time.Second, clk)(func(context.Context, *Message) error { calls++; return nil })
	m := testMessage(clk.Now().Add(-time.Second))
	err := h(context.Background(), m)
	if !errors.Is(err, ErrNotDue) || !IsTransient(err) || retryAfter(err) != 4*time.Second || calls != 0 {
		t.Fatalf("early: %v (wait %v), calls %d; want ErrNotDue, transient, wait 4s, no call", err, retryAfter(err), calls)
	}
	clk.Advance(4 * time.Second)
	if err := h(context.Background(), m); err != nil || calls != 1 {
		t.Fatalf("due: %v, calls %d", err, calls)
	}
}

// TestTimeoutFailsAttempt: an attempt past its deadline fails with
// ErrHandlerTimeout, counted (not transient even if the handler said so);
// one in time returns what the handler returned; a cancelled parent is
// not a timeout.
func TestTimeoutFailsAttempt(t *testing.T) {
	slow := Timeout(20 * time.Millisecond)(func(ctx context.Context, _ *Message) error {
		<-ctx.Done()
		return Transient(ctx.Err())
	})
	err := slow(context.Background(), testMessage(time.Now()))
	if !errors.Is(err, ErrHandlerTimeout) || IsTransient(err) || IsPermanent(err) {
		t.Fatalf("slow handler: %v; want ErrHandlerTimeout, neither transient nor permanent", err)
	}
	want := errors.New("quick failure")
	quick := Timeout(time.Minute)(func(ctx context.Context, _ *Message) error {
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("no deadline")
		}
		return want
	})
	if err := quick(context.Background(), testMessage(time.Now())); !errors.Is(err, want) {
		t.Fatalf("quick handler: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := slow(ctx, testMessage(time.Now())); errors.Is(err, ErrHandlerTimeout) {
		t.Fatalf("cancelled parent: %v; not a timeout", err)
	}
}

// TestUnsampledParent: an unsampled W3C traceparent is taken without an
// Extract, and the handler's context gives the same span context that
// propagation.TraceContext would (what a follow-up event carries); a
// sampled one, a tracestate, or a malformed header are left to Extract.
func TestUnsampledParent(t *testing.T) {
	for _, tc := range []struct {
		tp, ts string
		ok     bool // taken by the fast path
		parent bool // a parent in the context
	}{
		{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", "", true, true},
		{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "", false, true}, // sampled
		{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", "a=b", false, true},
		{"00-0AF7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", "", true, false}, // upper case
		{"00-00000000000000000000000000000000-b7ad6b7169203331-00", "", true, false}, // invalid id
		{"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", "", false, true},
		{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333g-00", "", true, false},
	} {
		hs := []kgo.RecordHeader{{Key: "traceparent", Value: []byte(tc.tp)}, {Key: "tracestate", Value: []byte(tc.ts)}}
		_, ok := unsampledTraceparent(hs)
		if ok != tc.ok {
			t.Errorf("%s %q: fast path %v, want %v", tc.tp, tc.ts, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		want := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": tc.tp}))
		got := trace.SpanContextFromContext(&unsampledCtx{Context: context.Background(), tp: []byte(tc.tp)})
		if !got.Equal(want) || got.IsValid() != tc.parent {
			t.Errorf("%s: context has %v, Extract gives %v", tc.tp, got, want)
		}
	}
}

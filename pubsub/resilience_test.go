package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// dlqLen is the number of records in topic's one-partition DLQ.
func dlqLen(t *testing.T, b *pubsubtest.Broker, dlq string) int64 {
	t.Helper()
	ends, err := kadm.NewClient(b.Client()).ListEndOffsets(context.Background(), dlq)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(dlq, 0)
	return end.Offset
}

// keyedEvents is n events on each of keys, data "key:i".
func keyedEvents(keys []string, n int) []event.Event {
	var evs []event.Event
	for i := range n {
		for _, k := range keys {
			e := event.New("/test", "test.seq", fmt.Appendf(nil, "%s:%d", k, i))
			e.Key = k
			evs = append(evs, e)
		}
	}
	return evs
}

// inKeyOrder reports whether got (data "key:i") has each key's events in
// order 0..n-1, each once.
func inKeyOrder(got []string, keys []string, n int) bool {
	next := map[string]int{}
	for _, g := range got {
		k, i, _ := strings.Cut(g, ":")
		if i != fmt.Sprint(next[k]) {
			return false
		}
		next[k]++
	}
	for _, k := range keys {
		if next[k] != n {
			return false
		}
	}
	return true
}

// TestTimeoutMiddleware: a handler that outlives its Timeout on every
// attempt fails each one; after MaxAttempts the message is dead-lettered
// with the timeout as its error, and the key's next event is handled.
func TestTimeoutMiddleware(t *testing.T) {
	b := pubsubtest.New(t)
	topic := b.Topic("timeout", 1)
	dlq := topic + ".dlq"
	b.CreateTopic(dlq, 1)
	slow := seqEvent("k", 0)
	slow.Data = []byte("slow")
	publish(t, pubsub.NewPublisher(b.Client()), topic, slow, seqEvent("k", 1))
	cfg := testConfig(b, pubsubtest.Group("timeout"))
	cfg.MaxAttempts = 2
	var slowCalls atomic.Int32
	var handled atomic.Pointer[string]
	r := newRouter(t, cfg)
	r.Handle(topic, func(ctx context.Context, m *pubsub.Message) error {
		if string(m.Event.Data) == "slow" {
			slowCalls.Add(1)
			<-ctx.Done()
			return nil // too late: still a failed attempt
		}
		d := string(m.Event.Data)
		handled.Store(&d)
		return nil
	}, pubsub.Timeout(50*time.Millisecond))
	start(t, r)
	l := readAll(t, b, dlq, 1)[0]
	h := headerMap(l)
	if h[pubsub.HeaderDLQAttempts] != "2" || !strings.Contains(h[pubsub.HeaderDLQError], "timed out") || slowCalls.Load() != 2 {
		t.Fatalf("DLQ attempts %q error %q, slow calls %d; want 2 timed-out attempts", h[pubsub.HeaderDLQAttempts], h[pubsub.HeaderDLQError], slowCalls.Load())
	}
	waitFor(t, 10*time.Second, "the key's next event", func() bool { p := handled.Load(); return p != nil && *p == "1" })
}

// TestThrottleMiddleware: a throttled router handles every event, once,
// in order per key.
func TestThrottleMiddleware(t *testing.T) {
	b := pubsubtest.New(t)
	topic := b.Topic("throttle", 2)
	keys := []string{"a", "b", "c", "d"}
	publish(t, pubsub.NewPublisher(b.Client()), topic, keyedEvents(keys, 10)...)
	var mu sync.Mutex
	var got []string
	r := newRouter(t, testConfig(b, pubsubtest.Group("throttle")))
	r.Use(pubsub.Throttle(400, 2))
	r.Handle(topic, func(_ context.Context, m *pubsub.Message) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, string(m.Event.Data))
		return nil
	})
	start(t, r)
	waitFor(t, 20*time.Second, "40 events", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 40 })
	mu.Lock()
	defer mu.Unlock()
	if !inKeyOrder(got, keys, 10) {
		t.Fatalf("handled %v: want each key's 10 events once, in order", got)
	}
}

// TestCircuitBreakerMiddleware: a dependency fails twice and the circuit
// opens; the events that come while it is open wait (ErrCircuitOpen,
// transient) instead of failing or reaching the DLQ, and once the trial
// after the cool-down succeeds every event is handled, in order per key.
func TestCircuitBreakerMiddleware(t *testing.T) {
	b := pubsubtest.New(t)
	topic := b.Topic("breaker", 1)
	dlq := topic + ".dlq"
	b.CreateTopic(dlq, 1)
	keys := []string{"a", "b", "c", "d", "e"}
	publish(t, pubsub.NewPublisher(b.Client()), topic, keyedEvents(keys, 2)...)
	cfg := testConfig(b, pubsubtest.Group("breaker"))
	cfg.MaxAttempts = 2
	cfg.Workers = 1
	var mu sync.Mutex
	var got []string
	calls, rejected := 0, 0
	r := newRouter(t, cfg)
	r.Use(func(next pubsub.Handler) pubsub.Handler {
		return func(ctx context.Context, m *pubsub.Message) error {
			err := next(ctx, m)
			if errors.Is(err, pubsub.ErrCircuitOpen) {
				mu.Lock()
				rejected++
				mu.Unlock()
			}
			return err
		}
	}, pubsub.CircuitBreaker(2, 200*time.Millisecond))
	r.Handle(topic, func(_ context.Context, m *pubsub.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls <= 2 {
			return errors.New("dependency down")
		}
		got = append(got, string(m.Event.Data))
		return nil
	})
	start(t, r)
	waitFor(t, 20*time.Second, "10 events", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 10 })
	mu.Lock()
	defer mu.Unlock()
	if !inKeyOrder(got, keys, 2) || rejected == 0 || calls != 12 {
		t.Fatalf("handled %v, handler calls %d, rejected %d; want each event once in key order, 12 calls, some rejected", got, calls, rejected)
	}
	if n := dlqLen(t, b, dlq); n != 0 {
		t.Fatalf("DLQ holds %d records, want none", n)
	}
}

// TestDelayMiddleware: every event is handled no earlier than its
// timestamp plus the delay, each once and in order per key, and none is
// dead-lettered although each is put off more than MaxAttempts times.
func TestDelayMiddleware(t *testing.T) {
	b := pubsubtest.New(t)
	topic := b.Topic("delay", 2)
	dlq := topic + ".dlq"
	b.CreateTopic(dlq, 1)
	const d = 300 * time.Millisecond
	keys := []string{"a", "b", "c"}
	cfg := testConfig(b, pubsubtest.Group("delay"))
	cfg.MaxAttempts = 1
	var mu sync.Mutex
	var got []string
	var early []string
	r := newRouter(t, cfg)
	r.Use(pubsub.Delay(d))
	r.Handle(topic, func(_ context.Context, m *pubsub.Message) error {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if now.Before(m.Record.Timestamp.Add(d)) {
			early = append(early, fmt.Sprintf("%s at %v after its timestamp", m.Event.Data, now.Sub(m.Record.Timestamp)))
		}
		got = append(got, string(m.Event.Data))
		return nil
	})
	start(t, r)
	publish(t, pubsub.NewPublisher(b.Client()), topic, keyedEvents(keys, 5)...)
	waitFor(t, 20*time.Second, "15 events", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 15 })
	mu.Lock()
	defer mu.Unlock()
	if len(early) > 0 || !inKeyOrder(got, keys, 5) {
		t.Fatalf("early: %v; handled %v", early, got)
	}
	if n := dlqLen(t, b, dlq); n != 0 {
		t.Fatalf("DLQ holds %d records, want none", n)
	}
}

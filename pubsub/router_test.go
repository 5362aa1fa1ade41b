package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// TestOrderPerKey: many keys over several partitions, handlers that sleep
// and fail at random; each key's events must succeed exactly in order.
func TestOrderPerKey(t *testing.T) {
	b := pubsubtest.New(t)
	topic := b.Topic("order", 4)
	const keys, perKey = 20, 40
	var evs []event.Event
	for n := range perKey {
		for k := range keys {
			evs = append(evs, seqEvent(fmt.Sprintf("k%d", k), n))
		}
	}
	publish(t, pubsub.NewPublisher(b.Client()), topic, evs...)

	var (
		mu           sync.Mutex
		seen         = map[string][]int{}
		total        int
		running, top atomic.Int32
		retries      atomic.Int32
	)
	r := newRouter(t, testConfig(b, pubsubtest.Group("order")))
	r.Handle(topic, func(_ context.Context, m *pubsub.Message) error {
		cur := running.Add(1)
		defer running.Add(-1)
		for old := top.Load(); cur > old && !top.CompareAndSwap(old, cur); old = top.Load() {
		}
		time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
		if m.Attempt < 3 && rand.IntN(10) == 0 {
			retries.Add(1)
			return errors.New("transient")
		}
		n, _ := strconv.Atoi(string(m.Event.Data))
		mu.Lock()
		seen[m.Event.Key] = append(seen[m.Event.Key], n)
		total++
		mu.Unlock()
		return nil
	})
	start(t, r)
	waitFor(t, 30*time.Second, "all events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return total >= keys*perKey
	})
	mu.Lock()
	defer mu.Unlock()
	for k, ns := range seen {
		for i, n := range ns {
			if n != i {
				t.Fatalf("key %s: got order %v", k, ns)
			}
		}
	}
	if retries.Load() == 0 || top.Load() < 2 {
		t.Fatalf("retries %d, max concurrency %d: the test did not exercise retries and concurrency", retries.Load(), top.Load())
	}
	t.Logf("retries %d, max concurrent handlers %d", retries.Load(), top.Load())
}

// TestRetryHoldsOnlyItsKey: a key in backoff does not hold back another
// key on the same partition.
func TestRetryHoldsOnlyItsKey(t *testing.T) {
	b := pubsubtest.New(t)
	topic := b.Topic("hold", 1)
	var evs []event.Event
	for n := range 5 {
		evs = append(evs, seqEvent("slow", n), seqEvent("fast", n))
	}
	publish(t, pubsub.NewPublisher(b.Client()), topic, evs...)

	cfg := testConfig(b, pubsubtest.Group("hold"))
	cfg.Backoff = pubsub.Backoff{Initial: 100 * time.Millisecond, Max: 100 * time.Millisecond}
	var mu sync.Mutex
	var order []string
	handled := map[string]bool{}
	r := newRouter(t, cfg)
	r.Handle(topic, func(_ context.Context, m *pubsub.Message) error {
		if m.Event.Key == "slow" && string(m.Event.Data) == "0" && m.Attempt < 4 {
			return errors.New("not yet")
		}
		mu.Lock()
		// A record handled again after a rebalance (at-least-once, as
		// when group coordinators move under make test-cluster) keeps
		// its first place.
		if id := m.Event.Key + string(m.Event.Data); !handled[id] {
			handled[id] = true
			order = append(order, id)
		}
		mu.Unlock()
		return nil
	})
	start(t, r)
	waitFor(t, 20*time.Second, "all events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 10
	})
	// All of fast went through while slow0 was retrying; slow kept order.
	want := []string{"fast0", "fast1", "fast2", "fast3", "fast4", "slow0", "slow1", "slow2", "slow3", "slow4"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
}

// TestCommitLowestUnfinished: while one record's handler is stuck, the
// committed offset stays at it even though later records are handled; a
// second router in the group picks up from there after the first stops.
func TestCommitLowestUnfinished(t *testing.T) {
	b := pubsubtest.New(t)
	topic := b.Topic("commit", 1)
	group := pubsubtest.Group("commit")
	// With the default 16 workers these keys land on workers 12, 11, 5
	// and 2: none shares the stuck key's worker, so the others finish.
	evs := []event.Event{seqEvent("a", 0), seqEvent("stuck", 0), seqEvent("b", 0), seqEvent("c", 0)}
	publish(t, pubsub.NewPublisher(b.Client()), topic, evs...)

	release := make(chan struct{})
	var handled atomic.Int32
	cfg := testConfig(b, group)
	cfg.ShutdownTimeout = 200 * time.Millisecond
	r := newRouter(t, cfg)
	r.Handle(topic, func(ctx context.Context, m *pubsub.Message) error {
		if m.Event.Key == "stuck" {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		handled.Add(1)
		return nil
	})
	stop := start(t, r)
	waitFor(t, 10*time.Second, "three handled", func() bool { return handled.Load() == 3 })
	adm := kadm.NewClient(b.Client())
	committed := func() int64 {
		os, err := adm.FetchOffsets(context.Background(), group)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := os.Lookup(topic, 0)
		return o.At
	}
	waitFor(t, 5*time.Second, "commit of offset 1", func() bool { return committed() == 1 })
	time.Sleep(200 * time.Millisecond)
	if c := committed(); c != 1 {
		t.Fatalf("committed %d while offset 1 is unfinished", c)
	}
	stop() // the stuck handler is cancelled after ShutdownTimeout
	if c := committed(); c != 1 {
		t.Fatalf("committed %d after shutdown, want 1", c)
	}

	// A new member redelivers from offset 1 only.
	close(release)
	var mu sync.Mutex
	var again []string
	r2 := newRouter(t, testConfig(b, group))
	r2.Handle(topic, func(_ context.Context, m *pubsub.Message) error {
		mu.Lock()
		again = append(again, m.Event.Key)
		mu.Unlock()
		return nil
	})
	start(t, r2)
	waitFor(t, 10*time.Second, "redelivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(again) == 3
	})
	waitFor(t, 5*time.Second, "final commit", func() bool { return committed() == 4 })
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(again) // different keys: any order
	if fmt.Sprint(again) != "[b c stuck]" {
		t.Fatalf("redelivered %v", again)
	}
}

// TestGracefulShutdown: Close waits for an in-flight handler and commits it.
func TestGracefulShutdown(t *testing.T) {
	b := pubsubtest.New(t)
	topic := b.Topic("graceful", 1)
	group := pubsubtest.Group("graceful")
	publish(t, pubsub.NewPublisher(b.Client()), topic, seqEvent("a", 0))
	entered := make(chan struct{})
	var finished atomic.Bool
	cfg := testConfig(b, group)
	cfg.CommitInterval = time.Hour // only the shutdown commit
	r := newRouter(t, cfg)
	r.Handle(topic, func(ctx context.Context, m *pubsub.Message) error {
		close(entered)
		time.Sleep(300 * time.Millisecond)
		finished.Store(ctx.Err() == nil)
		return nil
	})
	stop := start(t, r)
	<-entered
	stop()
	if !finished.Load() {
		t.Fatal("in-flight handler did not finish with a live context")
	}
	os, err := kadm.NewClient(b.Client()).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := os.Lookup(topic, 0); o.At != 1 {
		t.Fatalf("committed %d, want 1", o.At)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestRouterConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		in   pubsub.RouterConfig
		n    int
	}{
		{"ok", pubsub.RouterConfig{Brokers: []string{"x"}, Group: "g"}, 0},
		{"empty", pubsub.RouterConfig{}, 2},
		{"bad", pubsub.RouterConfig{Brokers: []string{"x"}, Group: "g", MaxAttempts: -1, Backoff: pubsub.Backoff{Jitter: 2, Multiplier: 0.5}}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			n := 0
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				n = len(j.Unwrap())
			}
			if n != tt.n {
				t.Fatalf("got %d problems: %v", n, err)
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	b := pubsub.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2, Jitter: 0.1}
	tests := []struct {
		failed int
		base   time.Duration
	}{{1, 10 * time.Millisecond}, {2, 20 * time.Millisecond}, {4, 80 * time.Millisecond}, {10, 100 * time.Millisecond}}
	for _, tt := range tests {
		for range 20 {
			d := b.Delay(tt.failed)
			if d < tt.base*9/10 || d > tt.base*11/10 {
				t.Fatalf("Delay(%d) = %v, want %v ±10%%", tt.failed, d, tt.base)
			}
		}
	}
}

// TestMessageFreshPerRecord checks that a handler's changes to its Message
// do not leak into the next record's (the worker reuses the Message).
func TestMessageFreshPerRecord(t *testing.T) {
	b := pubsubtest.New(t)
	topic := b.Topic("fresh", 1)
	prod := b.Client()
	const n = 50
	for i := range n {
		if err := prod.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var got atomic.Int32
	var bad atomic.Value
	r := newRouter(t, testConfig(b, pubsubtest.Group("fresh")))
	r.Handle(topic, func(_ context.Context, m *pubsub.Message) error {
		if m.Event.Subject != "" || m.Event.Extensions != nil || m.Group == "mutated" || m.Attempt != 1 || m.Event.Key != "k" {
			bad.Store(fmt.Sprintf("stale message: %+v", *m))
		}
		m.Event.Subject, m.Event.Extensions, m.Group = "x", map[string]string{"a": "b"}, "mutated"
		got.Add(1)
		return nil
	})
	defer start(t, r)()
	waitFor(t, 10*time.Second, "all records", func() bool { return got.Load() == n })
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
}

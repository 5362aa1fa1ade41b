package stream_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/stream"
)

// testBroker is the cluster a test runs on: Herald in process by
// default, or the one testenv.Brokers picks (a 3-broker kfake with
// moving leaders under `make test-cluster`).
type testBroker interface{ Addr() string }

type seeds []string

func (s seeds) Addr() string { return s[0] }

// newBroker starts a broker with the given topics, 3 partitions each.
func newBroker(t *testing.T, topics ...string) testBroker {
	t.Helper()
	parts := make(map[string]int32, len(topics))
	for _, tp := range topics {
		parts[tp] = 3
	}
	return newBrokerWith(t, parts)
}

// newBrokerWith starts a broker with topics of the given partition counts.
func newBrokerWith(t *testing.T, topics map[string]int32) testBroker {
	t.Helper()
	c := testenv.Brokers(t)
	if c.Kind == "" {
		opts := []heraldtest.Option{heraldtest.WithDurability("none")}
		for tp, n := range topics {
			opts = append(opts, heraldtest.WithTopics(int(n), tp))
		}
		return heraldtest.NewBroker(t, opts...)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for tp, n := range topics {
		if _, err := kadm.NewClient(cl).CreateTopic(ctx, n, 1, nil, tp); err != nil {
			t.Fatalf("create %s: %v", tp, err)
		}
	}
	return seeds(c.Seeds)
}

// produce writes records (key, value, timestamp) and waits for the acks.
func produce(t *testing.T, addr, topic string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func rec(key, value string) *kgo.Record { return &kgo.Record{Key: []byte(key), Value: []byte(value)} }

func recAt(key, value string, ts int64) *kgo.Record {
	r := rec(key, value)
	r.Timestamp = time.UnixMilli(ts)
	return r
}

// collector reads a topic from the start (read_committed) into memory.
type collector struct {
	mu   sync.Mutex
	recs []*kgo.Record
}

func collect(t *testing.T, addr, topic string) *collector {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			c.mu.Lock()
			c.recs = append(c.recs, fs.Records()...)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	return c
}

// latest is the last value per key.
func (c *collector) latest() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]string{}
	for _, r := range c.recs {
		m[string(r.Key)] = string(r.Value)
	}
	return m
}

func (c *collector) all() []*kgo.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*kgo.Record(nil), c.recs...)
}

// running is an App started in a goroutine.
type running struct {
	app    *stream.App
	cancel context.CancelFunc
	done   chan error
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func start(t *testing.T, top *stream.Topology, cfg stream.Config) *running {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	a, err := stream.New(top, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{app: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the App and fails the test if Run failed.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("Run did not return within 60s of cancel")
	}
}

// waitLatest waits until the latest value of every key of want is want's.
func waitLatest(t *testing.T, c *collector, want map[string]string) {
	t.Helper()
	testenv.CheckFor(t, 30*time.Second, func() error {
		got := c.latest()
		for k, v := range want {
			if got[k] != v {
				return fmt.Errorf("key %q: got %q, want %q (have %d keys)", k, got[k], v, len(got))
			}
		}
		return nil
	})
}

package pubsub_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testConfig(b *pubsubtest.Broker, group string) pubsub.RouterConfig {
	return pubsub.RouterConfig{
		Brokers:         b.Seeds,
		Group:           group,
		Backoff:         pubsub.Backoff{Initial: time.Millisecond, Max: 20 * time.Millisecond},
		CommitInterval:  50 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second,
		Logger:          quiet,
		ClientOpts:      []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond)},
	}
}

// start runs r until the test ends (or the returned stop is called) and
// fails the test if Run fails.
func start(t *testing.T, r *pubsub.Router) (stop func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- r.Run(context.Background()) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if err := r.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := <-errc; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newRouter(t *testing.T, cfg pubsub.RouterConfig) *pubsub.Router {
	t.Helper()
	r, err := pubsub.NewRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func publish(t *testing.T, p *pubsub.Publisher, topic string, evs ...event.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Publish(ctx, topic, evs...); err != nil {
		t.Fatal(err)
	}
}

func seqEvent(key string, n int) event.Event {
	e := event.New("/test", "test.seq", []byte(fmt.Sprint(n)))
	e.Key = key
	return e
}

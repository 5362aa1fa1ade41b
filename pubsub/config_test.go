package pubsub_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/pubsub"
)

// TestBackoffJitterZero: Jitter 0 means no jitter, so every delay is exactly
// the exponential one; the zero Backoff keeps the default jitter.
func TestBackoffJitterZero(t *testing.T) {
	b := pubsub.Backoff{Initial: 10 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: 0}
	for failed, want := range map[int]time.Duration{1: 10 * time.Millisecond, 2: 20 * time.Millisecond, 3: 40 * time.Millisecond, 20: time.Second} {
		for range 50 {
			if got := b.Delay(failed); got != want {
				t.Fatalf("Delay(%d) with Jitter 0 = %v, want exactly %v", failed, got, want)
			}
		}
	}
	// The zero Backoff is DefaultBackoff: 100ms ±20%, so 50 draws differ.
	if d := pubsub.DefaultBackoff(); d.Jitter != 0.2 || d.Initial != 100*time.Millisecond {
		t.Fatalf("DefaultBackoff() = %+v", d)
	}
	seen := map[time.Duration]bool{}
	for range 50 {
		d := pubsub.Backoff{}.Delay(1)
		if d < 80*time.Millisecond || d > 120*time.Millisecond {
			t.Fatalf("zero Backoff Delay(1) = %v, want 100ms ±20%%", d)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Fatal("the zero Backoff has no jitter; want the default 0.2")
	}
}

// TestHandleTwice: a second handler for a topic is refused, by Handle and
// by Run, instead of silently replacing the first.
func TestHandleTwice(t *testing.T) {
	r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: []string{"127.0.0.1:1"}, Group: "g", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h := func(context.Context, *pubsub.Message) error { return nil }
	if err := r.Handle("orders", h); err != nil {
		t.Fatalf("first Handle: %v", err)
	}
	err = r.Handle("orders", h)
	if err == nil || !strings.Contains(err.Error(), `"orders"`) || !strings.Contains(err.Error(), "already") {
		t.Fatalf("second Handle = %v, want an error naming the topic", err)
	}
	if err := r.Handle("", h); err == nil {
		t.Fatal("Handle with an empty topic: no error")
	}
	if err := r.Handle("payments", nil); err == nil {
		t.Fatal("Handle with a nil handler: no error")
	}
	// Run refuses too, so an ignored Handle error is not silent.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Run(ctx); err == nil || !strings.Contains(err.Error(), `"orders"`) {
		t.Fatalf("Run after a refused Handle = %v, want the Handle error", err)
	}
}

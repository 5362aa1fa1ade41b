package kafka

import (
	"testing"
	"time"
)

// TestBudget: waiters are served in order as bytes come back, a frame
// larger than the budget takes all of it, and a cancelled waiter takes
// nothing and does not block those behind it.
func TestBudget(t *testing.T) {
	b := newBudget(100)
	never := make(chan struct{})
	if got := b.acquire(60, never); got != 60 {
		t.Fatalf("acquire 60 of 100: got %d", got)
	}
	big := make(chan int64, 1)
	go func() { big <- b.acquire(1000, never) }() // takes all 100
	checkFor(t, 5*time.Second, "the large frame waits", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.mu.waiters) == 1
	})
	cancel := make(chan struct{})
	small := make(chan int64, 1)
	go func() { small <- b.acquire(10, cancel) }() // behind the large one, though 40 are free
	checkFor(t, 5*time.Second, "the small frame queues behind it", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.mu.waiters) == 2
	})
	close(cancel)
	if got := <-small; got != 0 {
		t.Fatalf("a cancelled waiter took %d", got)
	}
	b.release(60)
	if got := <-big; got != 100 {
		t.Fatalf("a frame over the budget took %d, want the whole 100", got)
	}
	b.release(100)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.avail != 100 || len(b.mu.waiters) != 0 {
		t.Fatalf("after releases: %d free, %d waiting", b.mu.avail, len(b.mu.waiters))
	}
}

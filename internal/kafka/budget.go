package kafka

import "sync"

// budget bounds the bytes of requests in memory across all connections,
// as Kafka's queued.max.request.bytes: a reader takes a frame's size from
// the budget before it reads the frame's body and gives it back once the
// request is handled. A reader that finds no room waits, and stops
// reading its socket meanwhile, which pushes back on its client through
// TCP. Waiters are served in arrival order, so a large frame is not
// starved by a stream of small ones. A frame takes at most the whole
// budget, so a frame larger than the budget waits for all of it.
type budget struct {
	size int64
	mu   struct {
		sync.Mutex
		// Invariant: 0 <= avail <= size.
		avail   int64
		waiters []*budgetWaiter // FIFO
	}
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed once n has been taken for the waiter
}

func newBudget(size int64) *budget {
	b := &budget{size: size}
	b.mu.avail = size
	return b
}

// acquire takes n bytes (at most the budget's size, which it returns),
// waiting for room; it gives up and returns 0 when cancel is closed.
func (b *budget) acquire(n int64, cancel <-chan struct{}) int64 {
	n = min(n, b.size)
	b.mu.Lock()
	if len(b.mu.waiters) == 0 && b.mu.avail >= n {
		b.mu.avail -= n
		b.mu.Unlock()
		return n
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.mu.waiters = append(b.mu.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return n
	case <-cancel:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted meanwhile: give it back
		b.mu.avail += n
	default:
		for i, o := range b.mu.waiters {
			if o == w {
				b.mu.waiters = append(b.mu.waiters[:i], b.mu.waiters[i+1:]...)
				break
			}
		}
	}
	b.grantLocked()
	return 0
}

// release gives back n bytes taken by acquire.
func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.mu.avail += n
	b.grantLocked()
	b.mu.Unlock()
}

// grantLocked serves waiters in order while there is room.
// mu must be held.
func (b *budget) grantLocked() {
	for len(b.mu.waiters) > 0 && b.mu.avail >= b.mu.waiters[0].n {
		w := b.mu.waiters[0]
		b.mu.waiters[0] = nil
		b.mu.waiters = b.mu.waiters[1:]
		b.mu.avail -= w.n
		close(w.ready)
	}
}

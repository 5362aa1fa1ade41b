// Package dedup makes handlers idempotent: a middleware that skips events
// whose id a Store has already recorded as handled.
//
// Kafka delivers at least once: a rebalance, a crash before a commit, an
// outbox relay that dies between publish and mark, or a re-drive can hand
// a handler the same event again. With dedup the handler's effects happen
// once per event id (within the store's retention).
//
//	store := dedup.NewMemory(24 * time.Hour)
//	r.Use(dedup.Middleware(store))
//
// or, shared by every instance of a service, in SQL:
//
//	store, err := dedup.NewSQL(ctx, db, dedup.SQLite, "herald_dedup")
//
// The middleware checks the store before the handler and records the id
// after the handler succeeds, so a failed attempt is retried, not skipped.
// Two deliveries of one id that run at the same moment (on two instances
// during a rebalance) can both run; the router's per-key ordering makes
// that rare. A handler that must exclude it records the id in the same
// transaction as its effects, with SQL.InTx:
//
//	r.Handle("orders", store.InTx(func(ctx context.Context, tx *sql.Tx, m *pubsub.Message) error {
//		_, err := tx.ExecContext(ctx, "UPDATE stock SET n = n - 1 WHERE sku = ?", sku(m))
//		return err // the id and the update commit together, or neither
//	}))
//
// Skipped duplicates end with Outcome Deduplicated, which Metrics counts
// apart from handled messages.
package dedup

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/heraldhq/herald/pubsub"
)

// Store records handled event ids.
//
// Implementations must be safe for concurrent use. Errors are returned to
// the middleware, which fails the attempt (so the router retries it).
type Store interface {
	// Seen reports whether id is recorded and not expired.
	Seen(ctx context.Context, id string) (bool, error)
	// Mark records id as handled. Marking an id twice is not an error.
	Mark(ctx context.Context, id string) error
}

// Middleware skips messages whose event id (prefixed by the consumer group,
// so groups do not share ids) is in store; otherwise it runs the handler
// and marks the id when the handler succeeds. Messages without an event id
// pass through.
func Middleware(store Store) pubsub.Middleware {
	return func(next pubsub.Handler) pubsub.Handler {
		return func(ctx context.Context, m *pubsub.Message) error {
			if m.Event.ID == "" {
				return next(ctx, m)
			}
			id := m.Group + "/" + m.Event.ID
			seen, err := store.Seen(ctx, id)
			if err != nil {
				return fmt.Errorf("dedup: check %s: %w", id, err)
			}
			if seen {
				m.SetOutcome(pubsub.Deduplicated)
				return nil
			}
			if err := next(ctx, m); err != nil {
				return err
			}
			if err := store.Mark(ctx, id); err != nil {
				return fmt.Errorf("dedup: mark %s: %w", id, err)
			}
			return nil
		}
	}
}

// Memory is an in-process Store whose entries expire after a TTL. Expired
// entries are swept while marking, so it needs no goroutine and no Close.
type Memory struct {
	ttl time.Duration
	now func() time.Time

	mu struct {
		sync.Mutex
		expires   map[string]time.Time
		nextSweep time.Time
	}
}

// NewMemory returns a memory store keeping ids for ttl.
func NewMemory(ttl time.Duration) *Memory {
	m := &Memory{ttl: ttl, now: time.Now}
	m.mu.expires = make(map[string]time.Time)
	return m
}

// Seen implements Store.
func (m *Memory) Seen(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.mu.expires[id]
	return ok && m.now().Before(exp), nil
}

// Mark implements Store.
func (m *Memory) Mark(_ context.Context, id string) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.expires[id] = now.Add(m.ttl)
	if now.After(m.mu.nextSweep) {
		m.sweepLocked(now)
		m.mu.nextSweep = now.Add(m.ttl / 2)
	}
	return nil
}

// Len is how many ids are held, expired or not.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mu.expires)
}

// sweepLocked drops expired ids. mu must be held.
func (m *Memory) sweepLocked(now time.Time) {
	for id, exp := range m.mu.expires {
		if !now.Before(exp) {
			delete(m.mu.expires, id)
		}
	}
}

package saga

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/dedup"
)

// Choreography: services react to each other's events with no
// coordinator. React is the handler of one such service; Tracker follows
// the process from outside.

// Emit is an event a reaction sends, to Topic.
type Emit struct {
	Topic string
	Event event.Event
}

// Failed is the error a reaction returns when the event cannot be acted
// on for a business reason (stock unavailable, payment declined): its
// Compensate events are emitted instead, and the message is done.
type Failed struct {
	Reason     string
	Compensate []Emit
}

// Error implements error.
func (f *Failed) Error() string { return "saga: reaction failed: " + f.Reason }

// Reaction is a service's part of a choreographed process: the business
// change for event e, in tx, and the events that follow from it.
type Reaction func(ctx context.Context, tx *sql.Tx, e event.Event) ([]Emit, error)

// React returns a pubsub handler that runs f in a transaction on db and
// writes the events it returns through the outbox ob in the same
// transaction, with the handled event's correlation id and its id as
// causation id. When f returns a *Failed, the transaction is rolled back
// and the Failed's compensation events are written (linked the same way)
// in a new one. Any other error fails the attempt, and the router retries.
func React(db *sql.DB, ob outbox.Store, f Reaction) pubsub.Handler {
	return func(ctx context.Context, m *pubsub.Message) error {
		var emits []Emit
		err := inTx(ctx, db, func(tx *sql.Tx) error {
			var err error
			if emits, err = f(ctx, tx, m.Event); err != nil {
				return err
			}
			return writeEmits(ctx, tx, ob, emits)
		})
		var failed *Failed
		if !errors.As(err, &failed) {
			return err
		}
		return inTx(ctx, db, func(tx *sql.Tx) error { return writeEmits(ctx, tx, ob, failed.Compensate) })
	}
}

// ReactTx returns reaction f as a dedup.TxHandler, for dedup.SQL.InTx:
// the handled event's id is recorded in the transaction that makes f's
// change and writes its events through the outbox ob, so a redelivered
// event (same id, same group) changes nothing and emits nothing:
//
//	seen, err := dedup.NewSQL(ctx, db, dedup.SQLite, "inventory_seen")
//	err = router.Handle("shop", seen.InTx(saga.ReactTx(ob, reserveStock)))
//
// When f returns a *Failed, its change is rolled back to a savepoint and
// the Failed's compensation events are written instead, in the same
// transaction as the event's record: a redelivered event emits them
// once. The events are linked to the handled one as React does. Any
// other error rolls everything back and fails the attempt.
func ReactTx(ob outbox.Store, f Reaction) dedup.TxHandler {
	return func(ctx context.Context, tx *sql.Tx, m *pubsub.Message) error {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT saga_react"); err != nil {
			return fmt.Errorf("saga: savepoint: %w", err)
		}
		emits, err := f(ctx, tx, m.Event)
		var failed *Failed
		switch {
		case errors.As(err, &failed):
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT saga_react"); err != nil {
				return fmt.Errorf("saga: rollback to savepoint: %w", err)
			}
			emits = failed.Compensate
		case err != nil:
			return err
		}
		return writeEmits(ctx, tx, ob, emits)
	}
}

func writeEmits(ctx context.Context, tx *sql.Tx, ob outbox.Store, emits []Emit) error {
	for _, e := range emits {
		// outbox.Write links e to the event ctx carries (the handled one).
		if err := outbox.Write(ctx, tx, ob, e.Topic, e.Event); err != nil {
			return err
		}
	}
	return nil
}

func inTx(ctx context.Context, db *sql.DB, f func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("saga: begin: %w", err)
	}
	if err := f(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// Process is a choreographed process as a Tracker sees it.
type Process struct {
	ID     string // the correlation id
	Status Status // Running, Compensating, Done or Compensated
	Events []Seen // in the order the tracker saw them
}

// Seen is one event of a process.
type Seen struct {
	Topic       string
	Type        string
	ID          string
	CausationID string
	Time        time.Time
}

// TrackerConfig names the event types of a choreographed process.
type TrackerConfig struct {
	Start      []string // begin a process (Running)
	Advance    []string // progress (Running)
	Complete   []string // the process is Done
	Compensate []string // a failure or an undo in progress (Compensating)
	Aborted    []string // the last compensation: Compensated
}

// Tracker derives each process's state from its events, by correlation
// id, with no orchestrator: it answers "where is order 42?". Safe for
// concurrent use.
type Tracker struct {
	kinds map[string]Status
	mu    struct {
		sync.Mutex
		procs map[string]*Process
	}
}

// NewTracker returns a tracker for the types in cfg.
func NewTracker(cfg TrackerConfig) (*Tracker, error) {
	t := &Tracker{kinds: map[string]Status{}}
	t.mu.procs = map[string]*Process{}
	add := func(types []string, s Status) error {
		for _, typ := range types {
			if _, dup := t.kinds[typ]; dup {
				return fmt.Errorf("saga: tracker: type %q listed twice", typ)
			}
			t.kinds[typ] = s
		}
		return nil
	}
	err := errors.Join(add(cfg.Start, Running), add(cfg.Advance, Running), add(cfg.Complete, Done),
		add(cfg.Compensate, Compensating), add(cfg.Aborted, Compensated))
	if err == nil && len(cfg.Start) == 0 {
		err = errors.New("saga: tracker: no Start types")
	}
	return t, err
}

// Observe applies event e, seen on topic; events of other types, or with
// no correlation id, are skipped, and so is an event redelivered (an id
// the process has seen before).
func (t *Tracker) Observe(topic string, e event.Event) {
	s, ok := t.kinds[e.Type]
	if !ok || e.CorrelationID == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.mu.procs[e.CorrelationID]
	if p == nil {
		p = &Process{ID: e.CorrelationID, Status: Running}
		t.mu.procs[e.CorrelationID] = p
	}
	for _, seen := range p.Events {
		if e.ID != "" && seen.ID == e.ID {
			return
		}
	}
	p.Events = append(p.Events, Seen{Topic: topic, Type: e.Type, ID: e.ID, CausationID: e.CausationID, Time: e.Time})
	// A finished process stays finished; compensation outranks progress.
	switch {
	case p.Status == Done || p.Status == Compensated:
	case s == Running && p.Status == Compensating:
	default:
		p.Status = s
	}
}

// Get returns the process with correlation id, and whether it was seen.
// The Process is a copy.
func (t *Tracker) Get(id string) (Process, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.mu.procs[id]
	if !ok {
		return Process{}, false
	}
	c := *p
	c.Events = append([]Seen(nil), p.Events...)
	return c, true
}

// Follow reads topics from their start with cl (a client with no
// consumer group, made with kgo.ConsumeTopics for them and
// kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())) and observes every
// event, until ctx is cancelled.
func (t *Tracker) Follow(ctx context.Context, cl *kgo.Client) error {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var errs []error
		fs.EachError(func(topic string, p int32, err error) {
			errs = append(errs, fmt.Errorf("saga: tracker: %s[%d]: %w", topic, p, err))
		})
		if err := errors.Join(errs...); err != nil {
			return err
		}
		fs.EachRecord(func(r *kgo.Record) {
			if e, err := event.FromRecord(r); err == nil {
				t.Observe(r.Topic, e)
			}
		})
	}
}

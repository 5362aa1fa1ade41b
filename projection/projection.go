package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/internal/sqlbind"
)

// Dialect is the SQL database the read models and checkpoints live in.
type Dialect int

// The supported databases.
const (
	SQLite Dialect = iota
	Postgres
)

// Handler applies one event to the read model in tx, writing to table
// (the projection's current table, or the new one during a rebuild). It
// must use tx only: its writes commit with the checkpoint or not at all.
type Handler func(ctx context.Context, tx *sql.Tx, table string, r eventstore.Recorded) error

// BatchHandler applies events, in order, to the read model in tx,
// writing to table, as a Handler would one by one: for handlers that
// write many events with one statement (a multi-row INSERT, say). Like a
// Handler it must use tx only. recs and what it points to belong to the
// runner once it returns.
type BatchHandler func(ctx context.Context, tx *sql.Tx, table string, recs []eventstore.Recorded) error

// Policy is what a runner does with an event whose handler keeps failing.
type Policy int

// The poison policies.
const (
	// Stop stops the projection at the event, with its position and the
	// error in Status; other projections go on. Resume restarts it.
	Stop Policy = iota
	// Skip records the event and the error in the skipped table and goes
	// on with the next event.
	Skip
)

// Projection is a read model built from $all.
type Projection struct {
	// Name identifies the projection and is the view readers query: a
	// plain SQL identifier, optionally schema-qualified.
	Name string
	// Setup creates the read model's table named table in tx.
	Setup func(ctx context.Context, tx *sql.Tx, table string) error
	// Apply applies one event.
	Apply Handler
	// ApplyBatch, if set, applies each batch in one call instead of Apply
	// per event (Step, Run, Rebuild, Inline): it must have the effect of
	// Apply on each event in order. If it fails, the batch is rolled back
	// and applied again with Apply, event by event under the poison
	// policy; Apply stays required.
	ApplyBatch BatchHandler
	// OnPoison says what happens when Apply fails Retries+1 times on one
	// event; default Stop.
	OnPoison Policy
	// Retries is the number of retries of a failed event; default 2.
	Retries int
}

// Status is a projection's state as the operator sees it.
//
// Status is also what an operator's tool reads without the projections'
// code: Runner.Status needs no registered projection.
type Status struct {
	Name       string
	Table      string // the table behind the view
	Position   int64  // the last event applied
	Head       int64  // the store's last position when Status ran
	Lag        int64  // Head - Position
	Stopped    bool   // stopped at a poisoned event
	Error      string // the poisoned event's error
	ErrorAt    int64  // the poisoned event's position
	Rebuilding bool   // a rebuild is under way
	Skipped    int64  // events skipped under the Skip policy

	// RebuildPosition is the last event the running rebuild applied.
	RebuildPosition int64
	// RebuildLease is when the running rebuild's claim expires unless it
	// makes progress; past it, another runner takes the rebuild over.
	RebuildLease time.Time
	// RebuildRequested: an operator asked for a rebuild (RequestRebuild)
	// and no runner has started it yet.
	RebuildRequested bool
}

// Errors of the projection runner.
var (
	// ErrRebuilding: a rebuild of the projection is already running.
	ErrRebuilding = errors.New("projection: a rebuild of this projection is already running")
	// ErrUnknown: no projection of that name is registered.
	ErrUnknown = errors.New("projection: unknown projection")
	// ErrStopped: the projection is stopped at a poisoned event.
	ErrStopped = errors.New("projection: stopped at a poisoned event")
)

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

func checkIdent(what, name string) error {
	if !identRE.MatchString(name) {
		return fmt.Errorf("projection: bad %s %q: want a plain SQL identifier", what, name)
	}
	return nil
}

func (d Dialect) rebind(q string) string {
	if d != Postgres {
		return q
	}
	return sqlbind.Numbered(q)
}

// tableName is the table of a projection's generation g.
func tableName(name string, g int64) string { return name + "_g" + strconv.FormatInt(g, 10) }

func (p *Projection) validate() error {
	var errs []error
	if err := checkIdent("projection name", p.Name); err != nil {
		errs = append(errs, err)
	}
	if p.Setup == nil || p.Apply == nil {
		errs = append(errs, fmt.Errorf("projection %s: Setup and Apply are required", p.Name))
	}
	if p.Retries < 0 {
		errs = append(errs, fmt.Errorf("projection %s: negative Retries", p.Name))
	}
	return errors.Join(errs...)
}

// apply runs the handler, turning a panic into an error.
func (p *Projection) apply(ctx context.Context, tx *sql.Tx, table string, r eventstore.Recorded) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("projection %s: handler panicked: %v", p.Name, v)
		}
	}()
	return p.Apply(ctx, tx, table, r)
}

// applyBatch runs the batch handler, turning a panic into an error.
func (p *Projection) applyBatch(ctx context.Context, tx *sql.Tx, table string, recs []eventstore.Recorded) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("projection %s: batch handler panicked: %v", p.Name, v)
		}
	}()
	return p.ApplyBatch(ctx, tx, table, recs)
}

func (p *Projection) retries() int {
	if p.Retries == 0 {
		return 2
	}
	return p.Retries
}

func nowMS() int64 { return time.Now().UnixMilli() }

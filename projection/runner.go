package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/heraldhq/herald/eventstore"
)

// Config configures a Runner. Zero fields take the defaults noted.
type Config struct {
	// Table is the checkpoint table; default herald_projections. Skipped
	// events go to Table_skipped.
	Table string
	// Batch is the number of events applied per transaction; default 500.
	Batch int
	// RebuildBatch is the number of events a rebuild reads and applies
	// per transaction; default 5000, or Batch if larger. Each of its
	// transactions holds the projection's lock (SQLite: the database's
	// write lock) while it applies its events, so a smaller one makes
	// appenders wait less during a rebuild and a larger one rebuilds
	// faster (fewer round trips and commits).
	RebuildBatch int
	// Poll is how often an idle projection looks for new events when the
	// store cannot notify it; default 100ms.
	Poll time.Duration
	// Logger receives the errors of Run; default slog.Default().
	Logger *slog.Logger
	// RebuildLease is how long a rebuild's claim lasts without progress:
	// each batch renews it, and once it has expired (the rebuilding
	// process died) another runner's Run takes the rebuild over. It must
	// exceed the time one batch takes; default 30s. Runners compare it
	// with their own clocks, so their clocks must agree to well within it.
	RebuildLease time.Duration
}

// Runner keeps projections up to date with an event store. The read
// models and the checkpoint table live in db; the store may be elsewhere
// (Inline needs it in db).
type Runner struct {
	db    *sql.DB
	d     Dialect
	store eventstore.Store
	cfg   Config
	q     queries

	mu struct {
		sync.Mutex
		projs map[string]*Projection
	}
}

// New returns a runner, creating the checkpoint tables if needed. store
// may be nil for a runner with topic projections only (TopicHandler);
// Status then reports a head of 0.
func New(ctx context.Context, db *sql.DB, d Dialect, store eventstore.Store, cfg Config) (*Runner, error) {
	if cfg.Table == "" {
		cfg.Table = "herald_projections"
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.RebuildBatch <= 0 {
		cfg.RebuildBatch = max(cfg.Batch, 5000)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RebuildLease <= 0 {
		cfg.RebuildLease = 30 * time.Second
	}
	if err := checkIdent("checkpoint table", cfg.Table); err != nil {
		return nil, err
	}
	r := &Runner{db: db, d: d, store: store, cfg: cfg, q: newQueries(d, cfg.Table)}
	r.mu.projs = map[string]*Projection{}
	for _, q := range r.q.ddl {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("projection: create %s: %w", cfg.Table, err)
		}
	}
	if err := r.migrate(ctx); err != nil {
		return nil, fmt.Errorf("projection: upgrade %s: %w", cfg.Table, err)
	}
	return r, nil
}

// migrate adds the columns a checkpoint table made by an older release
// lacks.
func (r *Runner) migrate(ctx context.Context) error {
	for _, col := range addedColumns {
		rows, err := r.db.QueryContext(ctx, "SELECT "+col+" FROM "+r.cfg.Table+" WHERE 1 = 0")
		if err == nil {
			rows.Close()
			continue
		}
		if _, aerr := r.db.ExecContext(ctx, r.q.migrate[col]); aerr != nil {
			return errors.Join(err, aerr)
		}
	}
	return nil
}

// Register adds p to the runner. A projection seen for the first time
// gets its checkpoint row at position 0, its first table (Setup) and the
// view named p.Name over it; a known one carries on from its checkpoint.
func (r *Runner) Register(ctx context.Context, p Projection) error {
	if err := p.validate(); err != nil {
		return err
	}
	if r.store == nil {
		return fmt.Errorf("projection: register %s: the runner has no event store", p.Name)
	}
	err := r.inTx(ctx, p.Name, false, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, r.q.insert, p.Name, nowMS())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return r.createGeneration(ctx, tx, &p, 1, true)
	})
	if err != nil {
		return fmt.Errorf("projection: register %s: %w", p.Name, err)
	}
	r.mu.Lock()
	r.mu.projs[p.Name] = &p
	r.mu.Unlock()
	return nil
}

// createGeneration creates table generation g, and the view over it if
// view is set.
func (r *Runner) createGeneration(ctx context.Context, tx *sql.Tx, p *Projection, g int64, view bool) error {
	table := tableName(p.Name, g)
	if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
		return err
	}
	if err := p.Setup(ctx, tx, table); err != nil {
		return fmt.Errorf("setup %s: %w", table, err)
	}
	if !view {
		return nil
	}
	return r.pointView(ctx, tx, p.Name, table)
}

// pointView makes the view name select from table. Readers of the view
// wait for the transaction and then see the new table; none sees an error.
func (r *Runner) pointView(ctx context.Context, tx *sql.Tx, name, table string) error {
	for _, q := range []string{"DROP VIEW IF EXISTS " + name, "CREATE VIEW " + name + " AS SELECT * FROM " + table} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) lookup(name string) (*Projection, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.mu.projs[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	return p, nil
}

// inTx runs f in a transaction whose first statement locks the
// projection's checkpoint row (SQLite: takes the write lock; PostgreSQL:
// the row lock), so batches, rebuild switches and inline appends of one
// projection never interleave.
func (r *Runner) inTx(ctx context.Context, name string, lock bool, f func(*sql.Tx) error) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if lock {
		if _, err := tx.ExecContext(ctx, r.q.lock, name); err != nil {
			return errors.Join(err, tx.Rollback())
		}
	}
	if err := f(tx); err != nil {
		return errors.Join(err, rollback(tx))
	}
	return tx.Commit()
}

func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return nil
}

// checkpoint is a projection's row.
type checkpoint struct {
	position, generation int64
	stopped              bool
	rebuildToken         string // the running rebuild's claim; "" if none
	rebuildPosition      int64  // the last event the rebuild applied
	rebuildLease         int64  // unix ms when the claim expires
	rebuildRequested     bool   // an operator asked for a rebuild
}

// queryRower is a *sql.DB or a *sql.Tx.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (r *Runner) readCheckpoint(ctx context.Context, tx queryRower, name string) (checkpoint, error) {
	var c checkpoint
	var stopped, requested int
	err := tx.QueryRowContext(ctx, r.q.get, name).Scan(&c.position, &c.generation, &stopped, &c.rebuildToken,
		&c.rebuildPosition, &c.rebuildLease, &requested)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("%w: %q has no checkpoint", ErrUnknown, name)
	}
	c.stopped, c.rebuildRequested = stopped != 0, requested != 0
	return c, err
}

// lockedTx is inTx with the lock that also reads the checkpoint row (one
// statement: UPDATE ... RETURNING), which it passes to f. relaxed also
// lets the commit return before its WAL is flushed (PostgreSQL: see
// rebuildBatchMode), in the same statement.
func (r *Runner) lockedTx(ctx context.Context, name string, relaxed bool, f func(*sql.Tx, checkpoint) error) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	q := r.q.lockGet
	if relaxed {
		q = r.q.lockGetRelaxed
	}
	var c checkpoint
	var stopped, requested int
	var setting string
	err = tx.QueryRowContext(ctx, q, name).Scan(&c.position, &c.generation, &stopped, &c.rebuildToken,
		&c.rebuildPosition, &c.rebuildLease, &requested, &setting)
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("%w: %q has no checkpoint", ErrUnknown, name)
	}
	if err != nil {
		return errors.Join(err, rollback(tx))
	}
	c.stopped, c.rebuildRequested = stopped != 0, requested != 0
	if err := f(tx, c); err != nil {
		return errors.Join(err, rollback(tx))
	}
	return tx.Commit()
}

// Step applies the next batch of events to projection name in one
// transaction with its checkpoint, and returns how many it applied (or
// skipped). It returns ErrStopped, wrapped with the event and error, when
// the projection is stopped at a poisoned event.
func (r *Runner) Step(ctx context.Context, name string) (int, error) {
	p, err := r.lookup(name)
	if err != nil {
		return 0, err
	}
	n, err := r.step(ctx, p, false)
	if err != nil {
		return n, fmt.Errorf("projection %s: %w", name, err)
	}
	return n, nil
}

// step runs one batch; careful is the slow path that applies each event
// under a savepoint, retries it, and stops or skips at a poisoned one.
func (r *Runner) step(ctx context.Context, p *Projection, careful bool) (int, error) {
	var n int
	var poison error
	err := r.lockedTx(ctx, p.Name, false, func(tx *sql.Tx, c checkpoint) error {
		if c.stopped {
			return ErrStopped
		}
		recs, err := r.store.ReadAll(ctx, c.position, r.cfg.Batch)
		if err != nil || len(recs) == 0 {
			return err
		}
		table := tableName(p.Name, c.generation)
		var pos int64
		if careful {
			pos, n, poison, err = r.applyCareful(ctx, tx, p, table, recs)
		} else {
			pos, n, err = r.applyFast(ctx, tx, p, table, recs)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, r.q.setPosition, pos, nowMS(), p.Name)
		return err
	})
	var he *handlerError
	if errors.As(err, &he) && !careful {
		return r.step(ctx, p, true)
	}
	if err == nil && poison != nil {
		err = poison
	}
	return n, err
}

// handlerError marks a handler's failure in the fast path.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// applyFast applies recs with no savepoints: any failure rolls the whole
// batch back for the careful path.
func (r *Runner) applyFast(ctx context.Context, tx *sql.Tx, p *Projection, table string, recs []eventstore.Recorded) (int64, int, error) {
	if p.ApplyBatch != nil {
		if err := p.applyBatch(ctx, tx, table, recs); err != nil {
			return 0, 0, &handlerError{err}
		}
		return recs[len(recs)-1].Position, len(recs), nil
	}
	for _, rec := range recs {
		if err := p.apply(ctx, tx, table, rec); err != nil {
			return 0, 0, &handlerError{err}
		}
	}
	return recs[len(recs)-1].Position, len(recs), nil
}

// applyCareful applies recs one by one under savepoints. At an event that
// fails every retry it stops (recording the event and error, keeping what
// came before) or skips it (recording it), as p.OnPoison says.
func (r *Runner) applyCareful(ctx context.Context, tx *sql.Tx, p *Projection, table string, recs []eventstore.Recorded) (int64, int, error, error) {
	pos := recs[0].Position - 1
	for i, rec := range recs {
		err := r.applyRetrying(ctx, tx, p, table, rec)
		if err == nil {
			pos = rec.Position
			continue
		}
		if p.OnPoison == Skip {
			if _, err := tx.ExecContext(ctx, r.q.skip, p.Name, rec.Position, rec.ID, err.Error(), nowMS()); err != nil {
				return pos, i, nil, err
			}
			if _, err := tx.ExecContext(ctx, r.q.countSkip, p.Name); err != nil {
				return pos, i, nil, err
			}
			pos = rec.Position
			continue
		}
		if _, err := tx.ExecContext(ctx, r.q.stop, err.Error(), rec.Position, p.Name); err != nil {
			return pos, i, nil, err
		}
		return pos, i, fmt.Errorf("%w: event %s at position %d: %w", ErrStopped, rec.ID, rec.Position, err), nil
	}
	return pos, len(recs), nil, nil
}

func (r *Runner) applyRetrying(ctx context.Context, tx *sql.Tx, p *Projection, table string, rec eventstore.Recorded) error {
	var err error
	for range p.retries() + 1 {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT herald_event"); err != nil {
			return err
		}
		if err = p.apply(ctx, tx, table, rec); err == nil {
			_, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT herald_event")
			return err
		}
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT herald_event"); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	return err
}

// Resume clears a projection's stopped state: the next Step retries the
// poisoned event.
func (r *Runner) Resume(ctx context.Context, name string) error {
	if _, err := r.db.ExecContext(ctx, r.q.resume, name); err != nil {
		return fmt.Errorf("projection: resume %s: %w", name, err)
	}
	return nil
}

// Run keeps every registered projection up to date until ctx ends, one
// goroutine each; it returns nil then. A projection that stops at a
// poisoned event is logged and left stopped (until Resume or a rebuild);
// the others go on. Each projection also gets a goroutine that, every
// Poll, runs a rebuild an operator requested (RequestRebuild) or takes
// over one whose lease expired (see MaybeRebuild).
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	projs := make([]*Projection, 0, len(r.mu.projs))
	for _, p := range r.mu.projs {
		projs = append(projs, p)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range projs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r.runOne(ctx, p)
		}()
		go func() {
			defer wg.Done()
			r.watchRebuild(ctx, p)
		}()
	}
	wg.Wait()
	return nil
}

func (r *Runner) runOne(ctx context.Context, p *Projection) {
	n, _ := r.store.(eventstore.Notifier)
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	stopped := false // logged once per stop
	for ctx.Err() == nil {
		var wake <-chan struct{}
		if n != nil {
			wake = n.Notify()
		}
		k, err := r.step(ctx, p, false)
		switch {
		case errors.Is(err, ErrStopped) && !stopped:
			r.cfg.Logger.Error("projection stopped", "projection", p.Name, "err", err)
			stopped = true
		case errors.Is(err, ErrStopped):
		case err != nil && ctx.Err() == nil:
			r.cfg.Logger.Warn("projection step failed; retrying", "projection", p.Name, "err", err)
		default:
			stopped = false
		}
		if k == r.cfg.Batch && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-t.C:
		}
	}
}

// Status returns every projection's checkpoint and lag, by name.
func (r *Runner) Status(ctx context.Context) ([]Status, error) {
	var head int64
	if r.store != nil {
		var err error
		if head, err = r.store.Head(ctx); err != nil {
			return nil, fmt.Errorf("projection: status: %w", err)
		}
	}
	rows, err := r.db.QueryContext(ctx, r.q.list)
	if err != nil {
		return nil, fmt.Errorf("projection: status: %w", err)
	}
	defer rows.Close()
	var out []Status
	for rows.Next() {
		var s Status
		var gen, lease int64
		var stopped, requested int
		var token string
		if err := rows.Scan(&s.Name, &s.Position, &gen, &stopped, &s.Error, &s.ErrorAt, &token, &s.Skipped,
			&s.RebuildPosition, &lease, &requested); err != nil {
			return nil, fmt.Errorf("projection: status: %w", err)
		}
		s.Table, s.Head, s.Lag = tableName(s.Name, gen), head, max(head-s.Position, 0)
		s.Stopped, s.Rebuilding, s.RebuildRequested = stopped != 0, token != "", requested != 0
		if token != "" {
			s.RebuildLease = time.UnixMilli(lease)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Skipped returns the positions of the events skipped by projection name,
// with their errors.
func (r *Runner) Skipped(ctx context.Context, name string) (map[int64]string, error) {
	rows, err := r.db.QueryContext(ctx, r.q.skipped, name)
	if err != nil {
		return nil, fmt.Errorf("projection: skipped of %s: %w", name, err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var p int64
		var e string
		if err := rows.Scan(&p, &e); err != nil {
			return nil, err
		}
		out[p] = e
	}
	return out, rows.Err()
}

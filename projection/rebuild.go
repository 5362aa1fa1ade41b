package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
)

// Rebuild replays $all from the start into a new table (the next
// generation), then, in one transaction that also applies whatever came
// in meanwhile, points the projection's view at it, moves the checkpoint
// and drops the old table. Readers of the view see the old table until
// that commit and the new one after; the live projection keeps running on
// the old table during the replay. A second Rebuild of the same projection
// while one runs, in this process or another, returns ErrRebuilding. It
// returns the number of events replayed.
//
// The rebuild holds a claim in the checkpoint table, renewed by each
// batch; if the process dies, the claim's lease (Config.RebuildLease)
// expires and another runner's Run resumes the rebuild from its last
// batch (MaybeRebuild).
//
// Events that fail are handled as p.OnPoison says, except that Stop fails
// the rebuild (the new table is dropped, the old one stays).
func (r *Runner) Rebuild(ctx context.Context, name string) (int64, error) {
	p, err := r.lookup(name)
	if err != nil {
		return 0, err
	}
	token := event.NewID()
	res, err := r.db.ExecContext(ctx, r.q.claimRebuild, token, r.leaseEnd(), name)
	if err := claimed(res, err); err != nil {
		return 0, fmt.Errorf("projection: rebuild %s: %w", name, err)
	}
	return r.rebuild(ctx, p, token, false)
}

// claimed turns a claim's result into nil (the row was updated) or
// ErrRebuilding.
func claimed(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(ErrRebuilding, err)
	}
	return nil
}

func (r *Runner) leaseEnd() int64 { return time.Now().Add(r.cfg.RebuildLease).UnixMilli() }

// rebuild runs a rebuild whose claim token holds: from the start, or from
// the claim's last batch if resume is set.
func (r *Runner) rebuild(ctx context.Context, p *Projection, token string, resume bool) (int64, error) {
	gen, n, err := r.replay(ctx, p, token, resume)
	if err == nil {
		var k int64
		k, err = r.switchTo(ctx, p, token, gen)
		n += k
	}
	if err != nil {
		return n, errors.Join(fmt.Errorf("projection: rebuild %s: %w", p.Name, err), r.abandon(ctx, p, token, gen))
	}
	return n, nil
}

// RequestRebuild asks the runners of projection name (their Run) to
// rebuild it: the request is a flag in the checkpoint table, so it can
// come from another process (herald projection rebuild) that does not
// have the projection's code. A runner starts the rebuild within its Poll
// interval; Status shows RebuildRequested until then and Rebuilding
// during it. A rebuild already running is ErrRebuilding; an unknown name
// is ErrUnknown. Requesting twice before a runner starts it is one
// request.
func (r *Runner) RequestRebuild(ctx context.Context, name string) error {
	res, err := r.db.ExecContext(ctx, r.q.request, name)
	if err = claimed(res, err); errors.Is(err, ErrRebuilding) {
		if _, perr := r.readCheckpoint(ctx, r.db, name); perr != nil {
			err = perr
		}
	}
	if err != nil {
		return fmt.Errorf("projection: request a rebuild of %s: %w", name, err)
	}
	return nil
}

// MaybeRebuild runs a rebuild of projection name if one is due: one an
// operator requested (RequestRebuild), or one whose runner died (its
// lease expired), which it resumes from that runner's last batch. The
// claim goes to one runner only; ran is false if nothing was due or
// another runner got it. Run calls it every Poll.
func (r *Runner) MaybeRebuild(ctx context.Context, name string) (n int64, ran bool, err error) {
	p, err := r.lookup(name)
	if err != nil {
		return 0, false, err
	}
	c, err := r.readCheckpoint(ctx, r.db, name)
	if err != nil {
		return 0, false, err
	}
	token, now := event.NewID(), nowMS()
	var res sql.Result
	switch {
	case c.rebuildToken == "" && c.rebuildRequested:
		res, err = r.db.ExecContext(ctx, r.q.claimRequested, token, r.leaseEnd(), name)
	case c.rebuildToken != "" && c.rebuildLease < now:
		res, err = r.db.ExecContext(ctx, r.q.takeOver, token, r.leaseEnd(), name, c.rebuildToken, now)
	default:
		return 0, false, nil
	}
	if err := claimed(res, err); errors.Is(err, ErrRebuilding) {
		return 0, false, nil
	} else if err != nil {
		return 0, false, fmt.Errorf("projection: rebuild %s: %w", name, err)
	}
	if c.rebuildToken != "" {
		r.cfg.Logger.Warn("projection rebuild taken over: its lease expired", "projection", name,
			"from", c.rebuildPosition)
	}
	n, err = r.rebuild(ctx, p, token, c.rebuildToken != "")
	return n, true, err
}

// watchRebuild calls MaybeRebuild every Poll until ctx ends.
func (r *Runner) watchRebuild(ctx context.Context, p *Projection) {
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, ran, err := r.MaybeRebuild(ctx, p.Name)
		switch {
		case err != nil && ctx.Err() == nil:
			r.cfg.Logger.Error("projection rebuild failed", "projection", p.Name, "err", err)
		case ran && err == nil:
			r.cfg.Logger.Info("projection rebuilt", "projection", p.Name, "events", n)
		}
	}
}

// replay creates the next generation's table (unless it resumes a rebuild
// that had committed a batch into it) and fills it from $all, batch by
// batch, each batch committed with the rebuild's position.
func (r *Runner) replay(ctx context.Context, p *Projection, token string, resume bool) (int64, int64, error) {
	var gen int64
	err := r.inTx(ctx, p.Name, true, func(tx *sql.Tx) error {
		c, err := r.readCheckpoint(ctx, tx, p.Name)
		if err != nil {
			return err
		}
		if c.rebuildToken != token {
			return fmt.Errorf("%w: the rebuild's claim was taken over", ErrRebuilding)
		}
		gen = c.generation + 1
		if resume && c.rebuildPosition > 0 {
			return nil
		}
		return r.createGeneration(ctx, tx, p, gen, false)
	})
	if err != nil {
		return 0, 0, err
	}
	var total int64
	pf := &prefetch{at: -1}
	defer pf.drop()
	for {
		k, err := r.rebuildBatch(ctx, p, token, gen, nil, pf)
		total += int64(k)
		if err != nil || k < r.cfg.RebuildBatch {
			return gen, total, err
		}
	}
}

// rebuildBatch applies one batch to generation gen and moves the
// rebuild's position, in tx if given (the switch) or in its own. On its
// own it reads the events before taking the projection's lock, so the
// lock (SQLite: the database's write lock) is held only to apply them.
//
// pf, outside the switch, holds the next batch read ahead while this one
// is applied: the replay waits on the database for one, not both.
func (r *Runner) rebuildBatch(ctx context.Context, p *Projection, token string, gen int64, tx *sql.Tx, pf *prefetch) (int, error) {
	if tx != nil {
		// Inside the switch: a failed fast try cannot be rolled back
		// alone, so apply carefully.
		return r.rebuildBatchMode(ctx, p, token, gen, tx, true, nil)
	}
	n, err := r.rebuildBatchMode(ctx, p, token, gen, nil, false, pf)
	var he *handlerError
	if errors.As(err, &he) {
		if pf != nil {
			pf.at = -1 // the careful batch may stop short: read the position again
		}
		return r.rebuildBatchMode(ctx, p, token, gen, nil, true, nil)
	}
	return n, err
}

// prefetch is a replay's read-ahead: the events after from, being read.
// Only the replay's goroutine uses it; ch is buffered, so an abandoned
// read ends without a reader. at is the rebuild position the replay's
// last batch committed (-1 before the first): where the next batch
// starts, unless another runner took the rebuild over, which the batch's
// transaction checks.
type prefetch struct {
	from, at int64
	ch       chan prefetched
}

type prefetched struct {
	recs []eventstore.Recorded
	err  error
}

// start reads the batch after from in the background.
func (pf *prefetch) start(ctx context.Context, r *Runner, from int64) {
	ch := make(chan prefetched, 1)
	pf.from, pf.ch = from, ch
	go func() {
		recs, err := r.store.ReadAll(ctx, from, r.cfg.RebuildBatch)
		ch <- prefetched{recs, err}
	}()
}

// take returns the batch after from: the one read ahead if it is that
// one, else read now.
func (pf *prefetch) take(ctx context.Context, r *Runner, from int64) ([]eventstore.Recorded, error) {
	if pf != nil && pf.ch != nil && pf.from == from {
		got := <-pf.ch
		pf.ch = nil
		return got.recs, got.err
	}
	pf.drop()
	return r.store.ReadAll(ctx, from, r.cfg.RebuildBatch)
}

func (pf *prefetch) drop() {
	if pf != nil {
		pf.ch = nil
	}
}

// rebuildBatchMode is rebuildBatch with the fast path (no savepoints; a
// handler error rolls the batch back) or the careful one.
func (r *Runner) rebuildBatchMode(ctx context.Context, p *Projection, token string, gen int64, tx *sql.Tx, careful bool, pf *prefetch) (int, error) {
	var recs []eventstore.Recorded
	var from int64 = -1
	if tx == nil {
		if pf != nil && pf.at >= 0 {
			from = pf.at
		} else {
			c, err := r.peekCheckpoint(ctx, p.Name)
			if err != nil {
				return 0, err
			}
			from = c.rebuildPosition
		}
		var err error
		if recs, err = pf.take(ctx, r, from); err != nil || len(recs) == 0 {
			return 0, err
		}
		if pf != nil && len(recs) == r.cfg.RebuildBatch {
			pf.start(ctx, r, recs[len(recs)-1].Position)
		}
	}
	var n int
	var last int64
	f := func(tx *sql.Tx, c checkpoint) error {
		if c.rebuildToken != token {
			return fmt.Errorf("%w: the rebuild's claim was taken over", ErrRebuilding)
		}
		if from != c.rebuildPosition {
			var err error
			if recs, err = r.store.ReadAll(ctx, c.rebuildPosition, r.cfg.RebuildBatch); err != nil || len(recs) == 0 {
				return err
			}
		}
		var pos int64
		var poison, err error
		if careful {
			pos, n, poison, err = r.applyCareful(ctx, tx, p, tableName(p.Name, gen), recs)
		} else {
			pos, n, err = r.applyFast(ctx, tx, p, tableName(p.Name, gen), recs)
		}
		if err != nil || poison != nil {
			return errors.Join(err, poison)
		}
		_, err = tx.ExecContext(ctx, r.q.setRebuild, pos, r.leaseEnd(), p.Name, token)
		last = pos
		return err
	}
	if tx != nil {
		c, err := r.readCheckpoint(ctx, tx, p.Name)
		if err != nil {
			return 0, err
		}
		return n, f(tx, c)
	}
	if err := r.lockedTx(ctx, p.Name, true, f); err != nil {
		return n, err
	}
	if pf != nil && n > 0 {
		pf.at = last
	}
	return n, nil
}

// A replay batch's commit returns before its WAL is flushed
// (PostgreSQL's synchronous_commit = off, for that transaction only: see
// lockGetRelaxed). A crash of the database then loses at most the last
// batches, and loses them whole, rows with the rebuild's position
// (commits stay atomic and in order): the rebuild resumes from the last
// batch that survived. The switch, which readers see, commits durably.

// peekCheckpoint reads a projection's row without locking it.
func (r *Runner) peekCheckpoint(ctx context.Context, name string) (checkpoint, error) {
	return r.readCheckpoint(ctx, r.db, name)
}

// switchTo catches generation gen up to the head and switches to it, in
// one transaction that holds the projection's row: no live batch runs
// meanwhile.
func (r *Runner) switchTo(ctx context.Context, p *Projection, token string, gen int64) (int64, error) {
	var total int64
	err := r.inTx(ctx, p.Name, true, func(tx *sql.Tx) error {
		for {
			k, err := r.rebuildBatch(ctx, p, token, gen, tx, nil)
			total += int64(k)
			if err != nil {
				return err
			}
			if k < r.cfg.RebuildBatch {
				break
			}
		}
		c, err := r.readCheckpoint(ctx, tx, p.Name)
		if err != nil {
			return err
		}
		if err := r.pointView(ctx, tx, p.Name, tableName(p.Name, gen)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, r.q.switchGen, gen, c.rebuildPosition, nowMS(), p.Name, token); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+tableName(p.Name, c.generation))
		return err
	})
	return total, err
}

// abandon drops a failed rebuild's table and frees the claim, if the
// claim is still token's: a rebuild taken over leaves both to the runner
// that took it.
func (r *Runner) abandon(ctx context.Context, p *Projection, token string, gen int64) error {
	ctx = context.WithoutCancel(ctx)
	return r.inTx(ctx, p.Name, true, func(tx *sql.Tx) error {
		c, err := r.readCheckpoint(ctx, tx, p.Name)
		if err != nil || c.rebuildToken != token {
			return err
		}
		if gen > 0 {
			if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+tableName(p.Name, gen)); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, r.q.endRebuild, p.Name, token)
		return err
	})
}

// Inline returns a TxHook that applies appended events to projection name
// in the append's own transaction (the checkpoint table and read model
// must then be in the store's database). A handler error fails the
// append. Events the projection has not seen yet (it was registered after
// they were appended) are applied first.
func (r *Runner) Inline(name string) eventstore.TxHook {
	return func(ctx context.Context, tx *sql.Tx, recs []eventstore.Recorded) error {
		p, err := r.lookup(name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, r.q.lock, name); err != nil {
			return err
		}
		c, err := r.readCheckpoint(ctx, tx, name)
		if err != nil {
			return err
		}
		if c.stopped {
			return fmt.Errorf("%w: %s", ErrStopped, name)
		}
		if recs, err = r.missed(ctx, c.position, recs); err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		table := tableName(name, c.generation)
		if p.ApplyBatch != nil {
			if err := p.applyBatch(ctx, tx, table, recs); err != nil {
				return fmt.Errorf("projection %s: events %s to %s: %w", name, recs[0].ID, recs[len(recs)-1].ID, err)
			}
		} else {
			for _, rec := range recs {
				if err := p.apply(ctx, tx, table, rec); err != nil {
					return fmt.Errorf("projection %s: event %s: %w", name, rec.ID, err)
				}
			}
		}
		_, err = tx.ExecContext(ctx, r.q.setPosition, recs[len(recs)-1].Position, nowMS(), name)
		return err
	}
}

// missed returns the events after position: the committed ones the store
// has before recs, then those of recs not yet applied.
func (r *Runner) missed(ctx context.Context, position int64, recs []eventstore.Recorded) ([]eventstore.Recorded, error) {
	var before []eventstore.Recorded
	for position < recs[0].Position-1 {
		got, err := r.store.ReadAll(ctx, position, r.cfg.Batch)
		if err != nil {
			return nil, err
		}
		for _, g := range got {
			if g.Position < recs[0].Position {
				before = append(before, g)
				position = g.Position
			}
		}
		if len(got) == 0 || got[len(got)-1].Position >= recs[0].Position-1 {
			break
		}
	}
	for len(recs) > 0 && recs[0].Position <= position {
		recs = recs[1:]
	}
	return append(before, recs...), nil
}

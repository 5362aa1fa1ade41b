package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
)

// Rebuild replays $all from the start into a new table (the next
// generation), then, in one transaction that also applies whatever came
// in meanwhile, points the projection's view at it, moves the checkpoint
// and drops the old table. Readers of the view see the old table until
// that commit and the new one after; the live projection keeps running on
// the old table during the replay. A second Rebuild of the same projection
// while one runs returns ErrRebuilding. It returns the number of events
// replayed.
//
// Events that fail are handled as p.OnPoison says, except that Stop fails
// the rebuild (the new table is dropped, the old one stays).
func (r *Runner) Rebuild(ctx context.Context, name string) (int64, error) {
	p, err := r.lookup(name)
	if err != nil {
		return 0, err
	}
	token := event.NewID()
	if err := r.claimRebuild(ctx, name, token); err != nil {
		return 0, err
	}
	gen, n, err := r.replay(ctx, p, token)
	if err == nil {
		var k int64
		k, err = r.switchTo(ctx, p, token, gen)
		n += k
	}
	if err != nil {
		return n, errors.Join(fmt.Errorf("projection: rebuild %s: %w", name, err), r.abandon(ctx, p, token, gen))
	}
	return n, nil
}

func (r *Runner) claimRebuild(ctx context.Context, name, token string) error {
	res, err := r.db.ExecContext(ctx, r.q.claimRebuild, token, name)
	if err != nil {
		return fmt.Errorf("projection: rebuild %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(fmt.Errorf("%w: %s", ErrRebuilding, name), err)
	}
	return nil
}

// replay creates the next generation's table and fills it from $all,
// batch by batch, each batch committed with the rebuild's position.
func (r *Runner) replay(ctx context.Context, p *Projection, token string) (int64, int64, error) {
	var gen int64
	err := r.inTx(ctx, p.Name, true, func(tx *sql.Tx) error {
		c, err := r.readCheckpoint(ctx, tx, p.Name)
		if err != nil {
			return err
		}
		gen = c.generation + 1
		return r.createGeneration(ctx, tx, p, gen, false)
	})
	if err != nil {
		return gen, 0, err
	}
	var total int64
	for {
		k, err := r.rebuildBatch(ctx, p, token, gen, nil)
		total += int64(k)
		if err != nil || k < r.cfg.Batch {
			return gen, total, err
		}
	}
}

// rebuildBatch applies one batch to generation gen and moves the
// rebuild's position, in tx if given (the switch) or in its own. On its
// own it reads the events before taking the projection's lock, so the
// lock (SQLite: the database's write lock) is held only to apply them.
func (r *Runner) rebuildBatch(ctx context.Context, p *Projection, token string, gen int64, tx *sql.Tx) (int, error) {
	if tx != nil {
		// Inside the switch: a failed fast try cannot be rolled back
		// alone, so apply carefully.
		return r.rebuildBatchMode(ctx, p, token, gen, tx, true)
	}
	n, err := r.rebuildBatchMode(ctx, p, token, gen, nil, false)
	var he *handlerError
	if errors.As(err, &he) {
		return r.rebuildBatchMode(ctx, p, token, gen, nil, true)
	}
	return n, err
}

// rebuildBatchMode is rebuildBatch with the fast path (no savepoints; a
// handler error rolls the batch back) or the careful one.
func (r *Runner) rebuildBatchMode(ctx context.Context, p *Projection, token string, gen int64, tx *sql.Tx, careful bool) (int, error) {
	var recs []eventstore.Recorded
	var from int64 = -1
	if tx == nil {
		c, err := r.peekCheckpoint(ctx, p.Name)
		if err != nil {
			return 0, err
		}
		from = c.rebuildPosition
		if recs, err = r.store.ReadAll(ctx, from, r.cfg.Batch); err != nil || len(recs) == 0 {
			return 0, err
		}
	}
	var n int
	f := func(tx *sql.Tx) error {
		c, err := r.readCheckpoint(ctx, tx, p.Name)
		if err != nil {
			return err
		}
		if c.rebuildToken != token {
			return fmt.Errorf("%w: the rebuild's claim was taken over", ErrRebuilding)
		}
		if from != c.rebuildPosition {
			if recs, err = r.store.ReadAll(ctx, c.rebuildPosition, r.cfg.Batch); err != nil || len(recs) == 0 {
				return err
			}
		}
		var pos int64
		var poison error
		if careful {
			pos, n, poison, err = r.applyCareful(ctx, tx, p, tableName(p.Name, gen), recs)
		} else {
			pos, n, err = r.applyFast(ctx, tx, p, tableName(p.Name, gen), recs)
		}
		if err != nil || poison != nil {
			return errors.Join(err, poison)
		}
		_, err = tx.ExecContext(ctx, r.q.setRebuild, pos, p.Name, token)
		return err
	}
	if tx != nil {
		return n, f(tx)
	}
	return n, r.inTx(ctx, p.Name, true, f)
}

// peekCheckpoint reads a projection's row without locking it.
func (r *Runner) peekCheckpoint(ctx context.Context, name string) (checkpoint, error) {
	var c checkpoint
	var stopped int
	err := r.db.QueryRowContext(ctx, r.q.get, name).Scan(&c.position, &c.generation, &stopped, &c.rebuildToken, &c.rebuildPosition)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("%w: %q has no checkpoint", ErrUnknown, name)
	}
	c.stopped = stopped != 0
	return c, err
}

// switchTo catches generation gen up to the head and switches to it, in
// one transaction that holds the projection's row: no live batch runs
// meanwhile.
func (r *Runner) switchTo(ctx context.Context, p *Projection, token string, gen int64) (int64, error) {
	var total int64
	err := r.inTx(ctx, p.Name, true, func(tx *sql.Tx) error {
		for {
			k, err := r.rebuildBatch(ctx, p, token, gen, tx)
			total += int64(k)
			if err != nil {
				return err
			}
			if k < r.cfg.Batch {
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

// abandon drops a failed rebuild's table and frees the claim.
func (r *Runner) abandon(ctx context.Context, p *Projection, token string, gen int64) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	if gen > 0 {
		if _, err := r.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+tableName(p.Name, gen)); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := r.db.ExecContext(ctx, r.q.endRebuild, p.Name, token); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
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
		table := tableName(name, c.generation)
		for _, rec := range recs {
			if err := p.apply(ctx, tx, table, rec); err != nil {
				return fmt.Errorf("projection %s: event %s: %w", name, rec.ID, err)
			}
		}
		if len(recs) == 0 {
			return nil
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

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/internal/sqlstore"
)

// moveStream is the fast path's first statement: it creates or moves the
// stream's row by the one event's append (one row changed), or changes
// nothing when the append cannot run here (the stream is a tombstone, the
// expectation ?2, an eventstore.ExpectedVersion, fails, or the id ?3 is in
// the stream already: the store's general path answers).
// It writes, so the transaction takes SQLite's write lock at its start
// (waiting through busy_timeout), as Dialect.LockFirst asks.
//
// The SELECT gives the row to insert, whose conflict with an existing
// row runs the DO UPDATE and its checks; it gives none if the id is in
// the stream, or if the stream has no row (and so no events) and the
// expectation is neither Any (-1) nor NoStream (-2). (A WHERE there also
// keeps SQLite's parser from reading ON CONFLICT as a join constraint.)
const moveStream = `INSERT INTO %[1]s_streams (stream, version, deleted, max_count, max_age_ms, truncate_before)
	SELECT ?1, 0, 0, 0, 0, 0
	WHERE (?2 IN (-1, -2) OR EXISTS (SELECT 1 FROM %[1]s_streams WHERE stream = ?1))
		AND NOT EXISTS (SELECT 1 FROM %[1]s WHERE stream = ?1 AND id = ?3)
	ON CONFLICT (stream) DO UPDATE SET version = version + 1, deleted = 0
	WHERE deleted <> 2 AND CASE
		WHEN ?2 = -1 THEN 1
		WHEN ?2 = -2 THEN version < 0
		WHEN ?2 = -3 THEN version >= 0
		WHEN ?2 < 0 THEN 0
		ELSE version = ?2 END`

// moveStreamReturning is moveStream for the expectations that do not
// name the version (Any, StreamExists): it returns the version before
// the append. (With the others, that version is known if the upsert
// writes, and the statement runs as an Exec, which database/sql serves
// with less work than a query.)
const moveStreamReturning = moveStream + `
	RETURNING version - 1`

// takePosition takes the event's position from the head row.
const takePosition = `UPDATE %s_head SET position = position + 1 WHERE id = 0`

// insertEvent inserts the event at the position takePosition took (which
// the insert's result gives back as its last insert id: position is the
// rowid).
const insertEvent = `INSERT INTO %[1]s (position, stream, version, id, type, recorded_at, headers, data)
	SELECT position, ?, ?, ?, ?, ?, ?, ? FROM %[1]s_head WHERE id = 0`

// fastAppend is the dialect's FastAppend: a one-event append as three
// statements prepared once per store (database/sql keeps each prepared
// on every connection it runs on) in one transaction. Appends of more
// events, and appends that moveStream turns away, return
// sqlstore.ErrSlowPath: the store's general path runs them.
func fastAppend(prefix string) func(context.Context, *sql.DB, sqlstore.FastAppend) (sqlstore.FastResult, error) {
	st := &statements{prefix: prefix}
	return func(ctx context.Context, db *sql.DB, in sqlstore.FastAppend) (sqlstore.FastResult, error) {
		if len(in.IDs) != 1 {
			return sqlstore.FastResult{}, sqlstore.ErrSlowPath
		}
		if err := st.prepare(ctx, db); err != nil {
			return sqlstore.FastResult{}, fmt.Errorf("eventstore: append to %q: %w", in.Stream, err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return sqlstore.FastResult{}, fmt.Errorf("eventstore: append: begin: %w", err)
		}
		out, err := st.run(ctx, tx, in)
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
				err = errors.Join(err, fmt.Errorf("eventstore: rollback: %w", rerr))
			}
			return out, err
		}
		if err := tx.Commit(); err != nil {
			return out, fmt.Errorf("eventstore: append: commit (the append may or may not have happened; retrying with the same event ids is safe): %w", err)
		}
		return out, nil
	}
}

// statements are the fast path's prepared statements for one store.
type statements struct {
	prefix string

	mu sync.Mutex
	// move is moveStream, moveRet moveStreamReturning.
	move, moveRet, position, insert *sql.Stmt // nil until prepared
}

// prepare prepares the statements if they are not yet; after an error,
// the next call tries again.
func (st *statements) prepare(ctx context.Context, db *sql.DB) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.insert != nil {
		return nil
	}
	var stmts [4]*sql.Stmt
	for i, q := range []string{moveStream, moveStreamReturning, takePosition, insertEvent} {
		s, err := db.PrepareContext(ctx, fmt.Sprintf(q, st.prefix))
		if err != nil {
			for _, s := range stmts[:i] {
				_ = s.Close()
			}
			return fmt.Errorf("prepare: %w", err)
		}
		stmts[i] = s
	}
	st.move, st.moveRet, st.position, st.insert = stmts[0], stmts[1], stmts[2], stmts[3]
	return nil
}

// run runs the append's statements in tx.
func (st *statements) run(ctx context.Context, tx *sql.Tx, in sqlstore.FastAppend) (sqlstore.FastResult, error) {
	out, err := st.moveStream(ctx, tx, in)
	if err != nil {
		return out, err
	}
	if _, err := tx.StmtContext(ctx, st.position).ExecContext(ctx); err != nil {
		return out, fmt.Errorf("eventstore: append: position: %w", err)
	}
	res, err := tx.StmtContext(ctx, st.insert).ExecContext(ctx, in.Stream, out.Version+1,
		in.IDs[0], in.Types[0], in.Recorded, in.Headers[0], in.Data[0])
	if err == nil {
		out.LastPosition, err = res.LastInsertId()
	}
	if err != nil {
		return out, fmt.Errorf("eventstore: append: insert events: %w", err)
	}
	out.Wrote = true
	return out, nil
}

// moveStream runs moveStream or moveStreamReturning; it returns the
// stream's version before the append, or sqlstore.ErrSlowPath if the
// statement wrote nothing.
func (st *statements) moveStream(ctx context.Context, tx *sql.Tx, in sqlstore.FastAppend) (sqlstore.FastResult, error) {
	var out sqlstore.FastResult
	switch e := eventstore.ExpectedVersion(in.Expected); {
	case e == eventstore.NoStream || e >= 0:
		res, err := tx.StmtContext(ctx, st.move).ExecContext(ctx, in.Stream, in.Expected, in.IDs[0])
		var n int64
		if err == nil {
			n, err = res.RowsAffected()
		}
		switch {
		case err != nil:
			return out, fmt.Errorf("eventstore: append to %q: %w", in.Stream, err)
		case n == 0:
			return out, sqlstore.ErrSlowPath
		}
		out.Version = max(in.Expected, -1) // NoStream: -1
		return out, nil
	}
	err := tx.StmtContext(ctx, st.moveRet).QueryRowContext(ctx, in.Stream, in.Expected, in.IDs[0]).Scan(&out.Version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return out, sqlstore.ErrSlowPath
	case err != nil:
		return out, fmt.Errorf("eventstore: append to %q: %w", in.Stream, err)
	}
	return out, nil
}

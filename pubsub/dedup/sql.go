package dedup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/heraldhq/herald/pubsub"
)

// Dialect is the SQL flavour of a SQL store.
type Dialect int

// The dialects.
const (
	SQLite Dialect = iota
	Postgres
)

// SQL is a Store in a SQL table, shared by every process using the
// database. Its table:
//
//	id       TEXT PRIMARY KEY  -- group/event id
//	seen_at  BIGINT            -- unix milliseconds, for Purge
type SQL struct {
	db                  *sql.DB
	seenQ, markQ, purge string
}

// TxHandler is a handler that makes its writes in tx, a transaction on
// the store's database that InTx begins and commits.
type TxHandler func(ctx context.Context, tx *sql.Tx, m *pubsub.Message) error

// InTx returns a handler that records each message's id in the same
// transaction as h's writes, so that they take effect together or not at
// all: for each attempt it begins a transaction, inserts the id (group and
// event id, as Middleware) with INSERT ... ON CONFLICT DO NOTHING, and if
// the row is new runs h with the transaction and commits. If the id was
// there already the transaction is rolled back and the message is
// acknowledged as Deduplicated without running h.
//
// The insert is the exclusion: while one transaction holds an uncommitted
// id, another inserting it waits (a PostgreSQL row lock on the key; the
// SQLite write lock, so give the database a busy_timeout); when the first
// commits, the second finds the id and skips, and when the first rolls
// back (h failed), the second goes on. So two instances handling one event
// at once cannot both take effect. h's error rolls everything back and
// fails the attempt; so does a failed commit.
//
// Messages without an event id run h in a transaction with no record.
// Do not combine InTx with Middleware on the same store and handler: the
// middleware would mark the id first.
func (s *SQL) InTx(h TxHandler) pubsub.Handler {
	return func(ctx context.Context, m *pubsub.Message) (err error) {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("dedup: begin: %w", err)
		}
		defer func() {
			if err != nil {
				err = errors.Join(err, ignoreDone(tx.Rollback()))
			}
		}()
		if m.Event.ID != "" {
			id := m.Group + "/" + m.Event.ID
			res, err := tx.ExecContext(ctx, s.markQ, id, time.Now().UnixMilli())
			if err != nil {
				return fmt.Errorf("dedup: record %s: %w", id, err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				if err != nil {
					return fmt.Errorf("dedup: record %s: %w", id, err)
				}
				m.SetOutcome(pubsub.Deduplicated)
				return tx.Rollback()
			}
		}
		if err := h(ctx, tx, m); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("dedup: commit: %w", err)
		}
		return nil
	}
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// NewSQL returns a SQL store on table, creating the table if needed.
func NewSQL(ctx context.Context, db *sql.DB, d Dialect, table string) (*SQL, error) {
	if !identRE.MatchString(table) {
		return nil, fmt.Errorf("dedup: bad table name %q", table)
	}
	p1, p2 := "?", "?"
	if d == Postgres {
		p1, p2 = "$1", "$2"
	}
	s := &SQL{
		db:    db,
		seenQ: fmt.Sprintf("SELECT 1 FROM %s WHERE id = %s", table, p1),
		markQ: fmt.Sprintf("INSERT INTO %s (id, seen_at) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING", table, p1, p2),
		purge: fmt.Sprintf("DELETE FROM %s WHERE seen_at < %s", table, p1),
	}
	ddl := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (id TEXT PRIMARY KEY, seen_at BIGINT NOT NULL)", table)
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		return nil, fmt.Errorf("dedup: create %s: %w", table, err)
	}
	return s, nil
}

// Seen implements Store.
func (s *SQL) Seen(ctx context.Context, id string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, s.seenQ, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// Mark implements Store.
func (s *SQL) Mark(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, s.markQ, id, time.Now().UnixMilli())
	return err
}

// Purge deletes ids marked before t and returns how many.
func (s *SQL) Purge(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.purge, before.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

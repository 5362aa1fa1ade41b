package dedup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"
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

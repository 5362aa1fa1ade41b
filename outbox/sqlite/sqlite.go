// Package sqlite is the outbox on SQLite (modernc.org/sqlite, pure Go):
// Herald's embedded default.
//
//	db, _ := sql.Open("sqlite", "file:app.db?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
//	store, err := sqlite.New(ctx, db, sqlite.Config{})
//	tx, _ := db.BeginTx(ctx, nil)
//	// ... the business change in tx ...
//	err = outbox.Write(ctx, tx, store, "orders", e)
//	err = tx.Commit()
//
// Relays claim rows by writing their id and a lease deadline into the
// row (claimed_by, claimed_until) inside a BEGIN IMMEDIATE transaction, so
// two relays never claim one row. A relay that dies keeps its rows until
// the lease runs out; then another relay publishes them again.
//
// Table (Config.Table, default herald_outbox):
//
//	seq           INTEGER PRIMARY KEY AUTOINCREMENT  -- publish order
//	id            TEXT     event id
//	topic         TEXT
//	msg_key       TEXT     record key; order is kept per key
//	headers       TEXT     JSON [{"k":..,"v":..}]
//	value         BLOB
//	created_at    INTEGER  unix ms
//	claimed_by    TEXT     relay id, '' if free
//	claimed_until INTEGER  unix ms; the claim holds while now < it
//	traceparent   TEXT     W3C trace context of the writer (empty if none)
//	tracestate    TEXT
//
// New adds the trace columns to a table created before they existed
// (ALTER TABLE ADD COLUMN for each one PRAGMA table_info lacks; old rows
// get empty values).
package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/internal/sqlrow"
)

// Config configures a Store.
type Config struct {
	Table string        // default herald_outbox
	Lease time.Duration // how long a claim holds; default 30s
}

// Store is an outbox table in SQLite.
type Store struct {
	db    *sql.DB
	table string
	lease time.Duration
}

var _ outbox.StatsStore = (*Store)(nil)

// New returns a store on db, creating the table if needed.
func New(ctx context.Context, db *sql.DB, cfg Config) (*Store, error) {
	if cfg.Table == "" {
		cfg.Table = "herald_outbox"
	}
	if cfg.Lease == 0 {
		cfg.Lease = 30 * time.Second
	}
	if err := sqlrow.CheckTable(cfg.Table); err != nil {
		return nil, err
	}
	s := &Store{db: db, table: cfg.Table, lease: cfg.Lease}
	ddl := []string{
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
			seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, topic TEXT NOT NULL,
			msg_key TEXT NOT NULL, headers TEXT NOT NULL, value BLOB,
			created_at INTEGER NOT NULL, claimed_by TEXT NOT NULL DEFAULT '',
			claimed_until INTEGER NOT NULL DEFAULT 0)`, s.table),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s_key ON %s (msg_key, seq)`, s.table, s.table),
	}
	for _, q := range ddl {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("outbox: create %s: %w", s.table, err)
		}
	}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("outbox: migrate %s: %w", s.table, err)
	}
	return s, nil
}

// migrate adds the columns a table made by an earlier release lacks.
func (s *Store) migrate(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf("SELECT name FROM pragma_table_info('%s')", s.table))
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		have[name] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, c := range sqlrow.TraceColumns {
		if have[c[0]] {
			continue
		}
		// A concurrent New may add it first: then the error says so, and
		// the column is there.
		if _, err := s.db.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", s.table, c[0], c[1])); err != nil && !strings.Contains(err.Error(), "duplicate column") {
			return err
		}
	}
	return nil
}

// Insert implements outbox.Store.
func (s *Store) Insert(ctx context.Context, tx *sql.Tx, msgs []outbox.Message) error {
	q := fmt.Sprintf(`INSERT INTO %s (id, topic, msg_key, headers, value, created_at, traceparent, tracestate) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, s.table)
	now := time.Now().UnixMilli()
	for _, m := range msgs {
		if _, err := tx.ExecContext(ctx, q, m.ID, m.Topic, m.Key, sqlrow.EncodeHeaders(m.Headers), m.Value, now, m.TraceParent, m.TraceState); err != nil {
			return fmt.Errorf("outbox: insert %s: %w", m.ID, err)
		}
	}
	return nil
}

// Claim implements outbox.Store.
func (s *Store) Claim(ctx context.Context, relay string, n int) (outbox.Batch, error) {
	b := &batch{s: s, relay: relay}
	err := s.immediate(ctx, func(conn *sql.Conn) error {
		now := time.Now().UnixMilli()
		rows, err := conn.QueryContext(ctx, fmt.Sprintf(`UPDATE %[1]s SET claimed_by = ?, claimed_until = ?
			WHERE seq IN (SELECT seq FROM %[1]s WHERE claimed_until <= ? ORDER BY seq LIMIT ?)
			RETURNING %[2]s`, s.table, sqlrow.Columns), relay, now+s.lease.Milliseconds(), now, n)
		if err != nil {
			return err
		}
		claimed, err := sqlrow.Scan(rows)
		if err != nil || len(claimed) == 0 {
			return err
		}
		b.claimed = claimed
		all, err := s.unpublished(ctx, conn, claimed)
		if err != nil {
			return err
		}
		b.publish, _ = sqlrow.Publishable(sortBySeq(claimed), all)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	return b, nil
}

func (s *Store) unpublished(ctx context.Context, conn *sql.Conn, claimed []outbox.Message) ([]sqlrow.KeySeq, error) {
	keys, maxSeq := sqlrow.Keys(claimed)
	args := make([]any, 0, len(keys)+1)
	for _, k := range keys {
		args = append(args, k)
	}
	args = append(args, maxSeq)
	q := fmt.Sprintf(`SELECT msg_key, seq FROM %s WHERE msg_key IN (%s) AND seq <= ? ORDER BY seq`,
		s.table, strings.TrimSuffix(strings.Repeat("?,", len(keys)), ","))
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlrow.ScanKeySeqs(rows)
}

// immediate runs f in a BEGIN IMMEDIATE transaction: it takes the write
// lock up front, so its reads cannot go stale before its writes.
func (s *Store) immediate(ctx context.Context, f func(*sql.Conn) error) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 10000"); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			err = errors.Join(err, rerr)
		}
	}()
	if err := f(conn); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

type batch struct {
	s                *Store
	relay            string
	claimed, publish []outbox.Message
}

func (b *batch) Messages() []outbox.Message { return b.publish }

// Done deletes the published rows and frees the other claimed ones.
func (b *batch) Done(ctx context.Context, published []int64) error {
	return b.s.immediate(ctx, func(conn *sql.Conn) error {
		if err := b.exec(ctx, conn, "DELETE FROM %s WHERE claimed_by = ? AND seq IN (%s)", published); err != nil {
			return err
		}
		return b.exec(ctx, conn, "UPDATE %s SET claimed_by = '', claimed_until = 0 WHERE claimed_by = ? AND seq IN (%s)", seqs(b.claimed))
	})
}

// Release frees every claimed row.
func (b *batch) Release(ctx context.Context) error {
	if len(b.claimed) == 0 {
		return nil
	}
	return b.s.immediate(ctx, func(conn *sql.Conn) error {
		return b.exec(ctx, conn, "UPDATE %s SET claimed_by = '', claimed_until = 0 WHERE claimed_by = ? AND seq IN (%s)", seqs(b.claimed))
	})
}

func (b *batch) exec(ctx context.Context, conn *sql.Conn, format string, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	args := []any{b.relay}
	for _, s := range seqs {
		args = append(args, s)
	}
	q := fmt.Sprintf(format, b.s.table, strings.TrimSuffix(strings.Repeat("?,", len(seqs)), ","))
	_, err := conn.ExecContext(ctx, q, args...)
	return err
}

func seqs(ms []outbox.Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func sortBySeq(ms []outbox.Message) []outbox.Message {
	// RETURNING gives no order guarantee.
	slices.SortFunc(ms, func(a, b outbox.Message) int { return cmp.Compare(a.Seq, b.Seq) })
	return ms
}

// Stats implements outbox.StatsStore.
func (s *Store) Stats(ctx context.Context) (outbox.Stats, error) {
	var st outbox.Stats
	var oldest int64
	q := fmt.Sprintf("SELECT count(*), COALESCE(min(created_at), 0) FROM %s", s.table)
	if err := s.db.QueryRowContext(ctx, q).Scan(&st.Pending, &oldest); err != nil {
		return st, fmt.Errorf("outbox: stats of %s: %w", s.table, err)
	}
	if st.Pending > 0 {
		st.Oldest = time.UnixMilli(oldest)
	}
	return st, nil
}

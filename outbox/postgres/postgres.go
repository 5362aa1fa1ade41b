// Package postgres is the outbox on PostgreSQL, through database/sql with
// the pgx driver (github.com/jackc/pgx/v5/stdlib, imported here, driver
// name "pgx").
//
//	db, _ := sql.Open("pgx", "postgres://app@db/app")
//	store, err := postgres.New(ctx, db, postgres.Config{})
//	tx, _ := db.BeginTx(ctx, nil)
//	// ... the business change in tx ...
//	err = outbox.Write(ctx, tx, store, "orders", e)
//	err = tx.Commit()
//
// A relay claims rows with SELECT ... FOR UPDATE SKIP LOCKED in a
// transaction that it holds while publishing and commits after deleting
// the published rows. Other relays skip the locked rows; a relay that dies
// drops its connection, the transaction rolls back, and the rows are
// published again by another relay.
//
// Table (Config.Table, default herald_outbox; may be schema-qualified):
//
//	seq         BIGSERIAL PRIMARY KEY  -- publish order
//	id          TEXT     event id
//	topic       TEXT
//	msg_key     TEXT     record key; order is kept per key
//	headers     TEXT     JSON [{"k":..,"v":..}]
//	value       BYTEA
//	created_at  TIMESTAMPTZ
//	traceparent TEXT     W3C trace context of the writer (empty if none)
//	tracestate  TEXT
//
// New adds the trace columns to a table created before they existed
// (ALTER TABLE ... ADD COLUMN IF NOT EXISTS; old rows get empty values).
//
// Order per key assumes that writers of one key do not commit out of Seq
// order (true when the business change locks the aggregate's row).
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/internal/sqlrow"
)

// Config configures a Store.
type Config struct {
	Table string // default herald_outbox
}

// Store is an outbox table in PostgreSQL.
type Store struct {
	db    *sql.DB
	table string
}

var _ outbox.StatsStore = (*Store)(nil)

// New returns a store on db, creating the table if needed.
func New(ctx context.Context, db *sql.DB, cfg Config) (*Store, error) {
	if cfg.Table == "" {
		cfg.Table = "herald_outbox"
	}
	if err := sqlrow.CheckTable(cfg.Table); err != nil {
		return nil, err
	}
	s := &Store{db: db, table: cfg.Table}
	idx := strings.ReplaceAll(s.table, ".", "_") + "_key"
	ddl := []string{
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
			seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL, topic TEXT NOT NULL,
			msg_key TEXT NOT NULL, headers TEXT NOT NULL, value BYTEA,
			created_at TIMESTAMPTZ NOT NULL DEFAULT now())`, s.table),
		fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (msg_key, seq)`, idx, s.table),
	}
	for _, c := range sqlrow.TraceColumns {
		ddl = append(ddl, fmt.Sprintf(`ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s`, s.table, c[0], c[1]))
	}
	for _, q := range ddl {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("outbox: create %s: %w", s.table, err)
		}
	}
	return s, nil
}

// Insert implements outbox.Store.
func (s *Store) Insert(ctx context.Context, tx *sql.Tx, msgs []outbox.Message) error {
	q := fmt.Sprintf(`INSERT INTO %s (id, topic, msg_key, headers, value, traceparent, tracestate) VALUES ($1, $2, $3, $4, $5, $6, $7)`, s.table)
	for _, m := range msgs {
		if _, err := tx.ExecContext(ctx, q, m.ID, m.Topic, m.Key, sqlrow.EncodeHeaders(m.Headers), m.Value, m.TraceParent, m.TraceState); err != nil {
			return fmt.Errorf("outbox: insert %s: %w", m.ID, err)
		}
	}
	return nil
}

// Claim implements outbox.Store. The batch holds a transaction (and a
// connection) until Done or Release.
func (s *Store) Claim(ctx context.Context, _ string, n int) (outbox.Batch, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	b := &batch{s: s, tx: tx}
	if err := b.claim(ctx, n); err != nil {
		return nil, errors.Join(fmt.Errorf("outbox: claim: %w", err), tx.Rollback())
	}
	return b, nil
}

type batch struct {
	s       *Store
	tx      *sql.Tx
	publish []outbox.Message
}

func (b *batch) claim(ctx context.Context, n int) error {
	rows, err := b.tx.QueryContext(ctx, fmt.Sprintf(
		`SELECT %s FROM %s ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`, sqlrow.Columns, b.s.table), n)
	if err != nil {
		return err
	}
	claimed, err := sqlrow.Scan(rows)
	if err != nil || len(claimed) == 0 {
		return err
	}
	keys, maxSeq := sqlrow.Keys(claimed)
	// A plain SELECT is not blocked by other relays' row locks: it sees
	// every committed unpublished row, claimed by us or not.
	rows, err = b.tx.QueryContext(ctx, fmt.Sprintf(
		`SELECT msg_key, seq FROM %s WHERE msg_key = ANY($1) AND seq <= $2 ORDER BY seq`, b.s.table), keys, maxSeq)
	if err != nil {
		return err
	}
	all, err := sqlrow.ScanKeySeqs(rows)
	if err != nil {
		return err
	}
	b.publish, _ = sqlrow.Publishable(claimed, all)
	return nil
}

func (b *batch) Messages() []outbox.Message { return b.publish }

// Done deletes the published rows and commits, which frees the others.
func (b *batch) Done(ctx context.Context, published []int64) error {
	if len(published) > 0 {
		q := fmt.Sprintf(`DELETE FROM %s WHERE seq = ANY($1)`, b.s.table)
		if _, err := b.tx.ExecContext(ctx, q, published); err != nil {
			return errors.Join(err, b.tx.Rollback())
		}
	}
	return b.tx.Commit()
}

// Release rolls the claim back.
func (b *batch) Release(context.Context) error { return b.tx.Rollback() }

// Stats implements outbox.StatsStore.
func (s *Store) Stats(ctx context.Context) (outbox.Stats, error) {
	var st outbox.Stats
	var oldest sql.NullTime
	q := fmt.Sprintf("SELECT count(*), min(created_at) FROM %s", s.table)
	if err := s.db.QueryRowContext(ctx, q).Scan(&st.Pending, &oldest); err != nil {
		return st, fmt.Errorf("outbox: stats of %s: %w", s.table, err)
	}
	if oldest.Valid {
		st.Oldest = oldest.Time
	}
	return st, nil
}

// Package postgres is the event store on PostgreSQL, through database/sql
// with the pgx driver (github.com/jackc/pgx/v5/stdlib, imported here,
// driver name "pgx").
//
//	db, _ := sql.Open("pgx", "postgres://app@db/app")
//	store, err := postgres.New(ctx, db, postgres.Config{})
//	res, err := store.Append(ctx, "order-42", eventstore.NoStream, placed)
//
// # Gap-free positions
//
// With a sequence (or BIGSERIAL) for positions, transaction A can take
// position 7, transaction B position 8, and B commit first: a reader of
// $all that saw 8 and keeps "after 8" as its checkpoint never sees 7. This
// store hands positions out from a one-row head table instead
// (UPDATE head SET position = position + n RETURNING position) as the last
// step of an append before its commit. The row lock that UPDATE takes is
// held to the commit, so appends that write events commit in position
// order and every position a reader sees is final: nothing can commit
// later below it. Appends still run their stream checks in parallel; only
// the short tail (take positions, insert, commit) is serialised. Stream
// rows are locked (SELECT ... FOR UPDATE) in stream-name order before the
// head, so appends never deadlock.
//
// Tables (Config.Prefix, default herald_events; may be schema-qualified):
//
//	herald_events            position BIGINT PRIMARY KEY   -- $all order, from 1
//	                         stream TEXT, version BIGINT   -- UNIQUE (stream, version), from 0
//	                         id TEXT, type TEXT            -- index (stream, id) for idempotent appends
//	                         recorded_at BIGINT            -- unix microseconds
//	                         headers TEXT                  -- ce_* attributes: <len>:<key><len>:<value>...
//	                         data BYTEA
//	herald_events_streams    stream TEXT PRIMARY KEY, version, deleted (0 live, 1 soft, 2 tombstone),
//	                         max_count, max_age_ms, truncate_before
//	herald_events_head       id 0, position: the last position given out
//	herald_events_snapshots  stream TEXT PRIMARY KEY, version, schema_version, data
package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/internal/sqlstore"
)

// Config configures a Store.
type Config struct {
	Prefix        string              // table name prefix; default herald_events
	MaxEventBytes int                 // an event's data limit; default 1 MiB
	Hooks         []eventstore.TxHook // run in each append's transaction
}

var dialect = &sqlstore.Dialect{
	Name:      "postgres",
	Numbered:  true,
	ForUpdate: " FOR UPDATE",
	DDL: func(p string) []string {
		ix := strings.ReplaceAll(p, ".", "_")
		if i := strings.LastIndexByte(p, '.'); i >= 0 {
			ix = p[i+1:]
		}
		return []string{
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s (seq BIGSERIAL PRIMARY KEY, position BIGINT UNIQUE,
				tx xid8 NOT NULL DEFAULT pg_current_xact_id(), stream TEXT NOT NULL,
				version BIGINT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, recorded_at BIGINT NOT NULL,
				headers TEXT NOT NULL, data BYTEA, UNIQUE (stream, version))`, p),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %[2]s_ids ON %[1]s (stream, id)`, p, ix),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %[2]s_unsequenced ON %[1]s (seq) WHERE position IS NULL`, p, ix),
			fmt.Sprintf(sequencer, p),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_streams (stream TEXT PRIMARY KEY, version BIGINT NOT NULL,
				deleted INT NOT NULL, max_count BIGINT NOT NULL, max_age_ms BIGINT NOT NULL,
				truncate_before BIGINT NOT NULL)`, p),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_head (id INT PRIMARY KEY, position BIGINT NOT NULL)`, p),
			fmt.Sprintf(`INSERT INTO %s_head (id, position) VALUES (0, 0) ON CONFLICT (id) DO NOTHING`, p),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_snapshots (stream TEXT PRIMARY KEY, version BIGINT NOT NULL,
				schema_version INT NOT NULL, data BYTEA)`, p),
			fmt.Sprintf(`CREATE SEQUENCE IF NOT EXISTS %s_naive_seq`, p),
		}
	},
	NaivePositions: func(p string) string { return fmt.Sprintf("nextval('%s_naive_seq')", p) },
	Sequence:       func(p string) string { return fmt.Sprintf("SELECT %s_sequence()", p) },
}

// sequencer is the function that gives positions to committed events
// without one. Each statement of a VOLATILE PL/pgSQL function takes a new
// snapshot: the pending rows are read after the head row's lock is held,
// so no row is numbered twice. A call that finds nothing pending writes
// nothing (and so costs no WAL flush).
const sequencer = `CREATE OR REPLACE FUNCTION %[1]s_sequence() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
	h bigint;
	n bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM %[1]s WHERE position IS NULL) THEN
		RETURN 0;
	END IF;
	SELECT position INTO h FROM %[1]s_head WHERE id = 0 FOR UPDATE;
	WITH pending AS (
		SELECT seq, row_number() OVER (ORDER BY tx, seq) AS rn FROM %[1]s WHERE position IS NULL
	), upd AS (
		UPDATE %[1]s e SET position = h + pending.rn FROM pending
		WHERE e.seq = pending.seq AND e.position IS NULL RETURNING 1
	)
	SELECT count(*) INTO n FROM upd;
	UPDATE %[1]s_head SET position = h + n WHERE id = 0;
	RETURN n;
END
$fn$`

// New returns the store on db, creating its tables if needed.
func New(ctx context.Context, db *sql.DB, cfg Config) (eventstore.Store, error) {
	return newStore(ctx, db, cfg, false)
}

func newStore(ctx context.Context, db *sql.DB, cfg Config, naive bool, sequencer ...bool) (eventstore.Store, error) {
	s, err := sqlstore.New(ctx, db, dialect, sqlstore.Config{Prefix: cfg.Prefix, MaxEventBytes: cfg.MaxEventBytes,
		Hooks: cfg.Hooks, Naive: naive, Sequencer: len(sequencer) > 0 && sequencer[0]})
	if err != nil {
		return nil, err
	}
	return s, nil
}

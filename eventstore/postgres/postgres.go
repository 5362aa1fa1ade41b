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
// order, every position a reader sees is final, and positions have no
// holes. Stream rows are locked in stream-name order before the head, so
// appends never deadlock.
//
// # Group commit
//
// A one-stream append of a store without hooks with an exact, NoStream or
// StreamExists expectation is one statement: it moves the stream's
// version only if the stream is at the expected version and holds none
// of the ids (an UPDATE whose WHERE READ COMMITTED re-checks on the row's
// newest version; for NoStream an INSERT of the row), takes positions and
// inserts. See knownExact in append.go for why that is safe. These
// appends queue in the store, and one writer goroutine sends what has
// queued (each stream at most once) as one pipelined implicit
// transaction, committed with synchronous_commit off, so the head row's
// lock is never waited for among the store's own appends and is not held
// across a WAL flush. A flusher goroutine then runs one statement that
// writes a WAL record (pg_logical_emit_message) and commits synchronously:
// it flushes the WAL past every commit made before it, so the appends
// committed before it are durable together, and each returns only then
// (as durable as with a synchronous commit and, with synchronous
// replication, replicated). See group.go.
//
// If a statement of a batch fails, the batch rolls back and runs again
// append by append. An append that wrote nothing (a conflict, a
// tombstone, a repeat, or a concurrent creation of its stream) runs
// again as the general batch, which answers it and is also the path of
// Any, in one round trip: BEGIN; lock the stream row; check the
// expectation and the ids, take positions, insert, move the stream's
// version (one statement); COMMIT; and its own flush.
//
// Until the flush, other sessions can see the events: ReadAll flushes too
// before it returns events above the last position it knows durable (see
// sqlstore.Dialect.Durable), so a subscriber never checkpoints an event
// that a crash could take back; ReadStream and Stream do not wait (an
// append made on what they read flushes it with its own commit).
//
// Give the *sql.DB at least as many idle connections
// (SetMaxIdleConns) as you have concurrent appenders: database/sql keeps
// 2 by default, and each new connection is a new PostgreSQL backend.
//
// Multi-stream appends, and stores with hooks (whose work in the
// transaction, like an outbox row, must not be seen before it is durable),
// run statement by statement with an ordinary commit.
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
//	                         max_count, max_age_ms, truncate_before  -- partial index on the bounded ones
//	                         (fillfactor 50: an append's version update stays on the row's page, HOT)
//	herald_events_head       id 0, position: the last position given out
//	herald_events_snapshots  stream TEXT PRIMARY KEY, version, schema_version, data
//
// Events tables of earlier versions also have seq BIGSERIAL PRIMARY KEY,
// tx xid8 and position nullable (UNIQUE), with an index of the rows
// without a position; this version keeps using them as they are.
package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	// also the "pgx" database/sql driver

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
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s (position BIGINT PRIMARY KEY, stream TEXT NOT NULL,
				version BIGINT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, recorded_at BIGINT NOT NULL,
				headers TEXT NOT NULL, data BYTEA, UNIQUE (stream, version))`, p),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %[2]s_ids ON %[1]s (stream, id)`, p, ix),
			// Tables of earlier versions (seq, tx, position NULL until
			// sequenced) keep the sequencer's index.
			fmt.Sprintf(`DO $do$ BEGIN
				IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '%[1]s'::regclass AND attname = 'seq' AND NOT attisdropped) THEN
					CREATE INDEX IF NOT EXISTS %[2]s_unsequenced ON %[1]s (seq) WHERE position IS NULL;
				END IF;
			END $do$`, p, ix),
			fmt.Sprintf(sequencer, p),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_streams (stream TEXT PRIMARY KEY, version BIGINT NOT NULL,
				deleted INT NOT NULL, max_count BIGINT NOT NULL, max_age_ms BIGINT NOT NULL,
				truncate_before BIGINT NOT NULL) WITH (fillfactor = 50)`, p),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %[2]s_streams_bounded ON %[1]s_streams (stream) WHERE %[3]s`, p, ix, sqlstore.BoundedCond),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_head (id INT PRIMARY KEY, position BIGINT NOT NULL)`, p),
			fmt.Sprintf(`INSERT INTO %s_head (id, position) VALUES (0, 0) ON CONFLICT (id) DO NOTHING`, p),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_snapshots (stream TEXT PRIMARY KEY, version BIGINT NOT NULL,
				schema_version INT NOT NULL, data BYTEA)`, p),
			fmt.Sprintf(`CREATE SEQUENCE IF NOT EXISTS %s_naive_seq`, p),
		}
	},
	NaivePositions: func(p string) string { return fmt.Sprintf("nextval('%s_naive_seq')", p) },
	Sequence:       func(p string) string { return fmt.Sprintf("SELECT %s_sequence()", p) },
	FastAppend:     fastAppend,
	// The head position, then a flush, but only when the WAL is not
	// flushed up to where it is written: an idle database flushes
	// nothing. The flush commits after the statement's snapshot, so every
	// event up to the head it read is durable when it returns.
	Durable: func(p string) string {
		return fmt.Sprintf(`SELECT position, CASE WHEN pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn()
			THEN `+flush+` END IS NOT NULL FROM %s_head WHERE id = 0`, p)
	},
}

// flush writes a (transactional) WAL record, so that the transaction
// that runs it commits synchronously: its commit flushes the WAL up to
// itself, past every commit written before it. Logical decoding sees
// these records as messages with this prefix and no content.
const flush = `pg_logical_emit_message(true, 'herald.eventstore.flush', ''::bytea)`

// sequencer is the function that gives positions to committed events
// without one, which stores of an earlier version wrote (they inserted
// events without positions and numbered them after the commit). Each statement of a VOLATILE PL/pgSQL function takes a new
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

func newStore(ctx context.Context, db *sql.DB, cfg Config, naive bool) (eventstore.Store, error) {
	s, err := sqlstore.New(ctx, db, dialect, sqlstore.Config{Prefix: cfg.Prefix, MaxEventBytes: cfg.MaxEventBytes,
		Hooks: cfg.Hooks, Naive: naive})
	if err != nil {
		return nil, err
	}
	return s, nil
}

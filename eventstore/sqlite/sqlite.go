// Package sqlite is the event store on SQLite (modernc.org/sqlite, pure
// Go): Herald's embedded default.
//
//	db, err := sqlite.Open("app.db") // WAL, busy_timeout, foreign keys
//	store, err := sqlite.New(ctx, db, sqlite.Config{})
//	res, err := store.Append(ctx, "order-42", eventstore.NoStream, placed)
//
// SQLite has one writer at a time. An append's first statement writes the
// head row, so the append holds the write lock from its start to its
// commit (waiting for it through busy_timeout, never failing half way):
// positions are handed out in commit order and a reader of $all never
// sees a later position before an earlier one.
//
// Tables (Config.Prefix, default herald_events):
//
//	herald_events            position INTEGER PRIMARY KEY  -- $all order, from 1
//	                         stream TEXT, version INTEGER  -- UNIQUE (stream, version), from 0
//	                         id TEXT, type TEXT            -- index (stream, id) for idempotent appends
//	                         recorded_at INTEGER           -- unix microseconds
//	                         headers TEXT                  -- ce_* attributes: <len>:<key><len>:<value>...
//	                         data BLOB
//	herald_events_streams    stream TEXT PRIMARY KEY, version, deleted (0 live, 1 soft, 2 tombstone),
//	                         max_count, max_age_ms, truncate_before  -- partial index on the bounded ones
//	herald_events_head       id 0, position: the last position given out
//	herald_events_snapshots  stream TEXT PRIMARY KEY, version, schema_version, data
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

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
	Name:      "sqlite",
	LockFirst: true,
	OneWriter: true,
	// FastAppend: one-event appends as three prepared statements (see
	// fastAppend).
	FastAppend: fastAppend,
	DDL: func(p string) []string {
		return []string{
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s (position INTEGER PRIMARY KEY, stream TEXT NOT NULL,
				version INTEGER NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, recorded_at INTEGER NOT NULL,
				headers TEXT NOT NULL, data BLOB, UNIQUE (stream, version))`, p),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %[1]s_ids ON %[1]s (stream, id)`, p),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_streams (stream TEXT PRIMARY KEY, version INTEGER NOT NULL,
				deleted INTEGER NOT NULL, max_count INTEGER NOT NULL, max_age_ms INTEGER NOT NULL,
				truncate_before INTEGER NOT NULL)`, p),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %[1]s_streams_bounded ON %[1]s_streams (stream) WHERE %s`, p, sqlstore.BoundedCond),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_head (id INTEGER PRIMARY KEY, position INTEGER NOT NULL)`, p),
			fmt.Sprintf(`INSERT INTO %s_head (id, position) VALUES (0, 0) ON CONFLICT (id) DO NOTHING`, p),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s_snapshots (stream TEXT PRIMARY KEY, version INTEGER NOT NULL,
				schema_version INTEGER NOT NULL, data BLOB)`, p),
		}
	},
}

// New returns the store on db, creating its tables if needed. db should
// be opened with a busy_timeout (Open does that).
func New(ctx context.Context, db *sql.DB, cfg Config) (eventstore.Store, error) {
	s, err := sqlstore.New(ctx, db, dialect, sqlstore.Config{Prefix: cfg.Prefix, MaxEventBytes: cfg.MaxEventBytes, Hooks: cfg.Hooks})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Open opens the SQLite file at path in WAL mode with a 10 s busy
// timeout and synchronous=FULL, so that a committed append survives a
// crash of the process or the machine.
func Open(path string) (*sql.DB, error) {
	v := url.Values{}
	v.Add("_pragma", "journal_mode(WAL)")
	v.Add("_pragma", "busy_timeout(10000)")
	v.Add("_pragma", "synchronous(FULL)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+v.Encode())
	if err != nil {
		return nil, fmt.Errorf("eventstore: open %s: %w", path, err)
	}
	return db, nil
}

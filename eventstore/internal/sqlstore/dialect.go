// Package sqlstore is the event store on database/sql that the SQLite and
// PostgreSQL backends share; a Dialect holds what differs between them.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"

	"github.com/heraldhq/herald/internal/sqlbind"
)

// Dialect is what differs between SQL databases.
type Dialect struct {
	// Name is the database's name, for errors.
	Name string
	// Numbered placeholders ($1, $2) instead of ?.
	Numbered bool
	// LockFirst takes the head row's write lock as an append's first
	// statement (SQLite: a deferred transaction whose first statement
	// writes waits for the write lock through busy_timeout instead of
	// failing later with SQLITE_BUSY). Without it the head row is locked
	// last, after the stream rows (PostgreSQL: the shortest hold).
	LockFirst bool
	// OneWriter serialises appends through this Store value in the
	// process (SQLite: writers queue on a mutex instead of sleeping in the
	// busy handler; other processes still wait through busy_timeout).
	OneWriter bool
	// ForUpdate is appended to the stream row's SELECT in an append.
	ForUpdate string
	// DDL returns the statements that create the tables of prefix, with
	// a partial index on prefix_streams WHERE BoundedCond (for existing
	// stores too: CREATE INDEX IF NOT EXISTS).
	DDL func(prefix string) []string
	// Sequence, if set, returns the statement that gives positions to
	// committed events that have none yet: rows written by stores of an
	// earlier version, which inserted events without positions and
	// numbered them after the commit. New runs it once; reads that meet
	// such a row run it again.
	Sequence func(prefix string) string
	// FastAppend, if set, returns the function that runs the one-stream
	// appends of a store without hooks on the tables of prefix
	// (PostgreSQL: one pipelined round trip; SQLite: three prepared
	// statements, run under the writer mutex if OneWriter). That function returns
	// ErrSlowPath when the general path must run instead.
	FastAppend func(prefix string) func(ctx context.Context, db *sql.DB, in FastAppend) (FastResult, error)
	// Durable, if set, is a statement that returns the head position
	// and whether it flushed (two columns) once every commit visible to
	// it is durable. ReadAll
	// runs it after a read that returned events above the last position
	// known durable, so that a reader never hands out an event that a
	// crash of the database could still take back (PostgreSQL appends
	// commit asynchronously and then wait for a flush; see FastAppend).
	Durable func(prefix string) string
	// NaivePositions, if set, is an expression that gives each event a
	// position without the head lock (a sequence). Tests use it to show
	// what the head lock prevents; no store should run with it.
	NaivePositions func(prefix string) string
}

// Rebind turns ? placeholders into $n when the dialect numbers them.
func (d *Dialect) Rebind(q string) string {
	if !d.Numbered {
		return q
	}
	return sqlbind.Numbered(q)
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// CheckIdent rejects names that are not plain (optionally
// schema-qualified) SQL identifiers.
func CheckIdent(name string) error {
	if !identRE.MatchString(name) {
		return fmt.Errorf("eventstore: bad table prefix %q", name)
	}
	return nil
}

// FastAppend is a one-stream append in the columns it is stored in.
type FastAppend struct {
	Stream   string
	Expected int64 // an eventstore.ExpectedVersion
	// IDs, Types, Headers and Data are the events' columns, in order.
	IDs, Types, Headers []string
	Data                [][]byte
	Recorded            int64 // unix microseconds
}

// FastResult is what a FastAppend found and did.
type FastResult struct {
	Version int64 // the stream's version before the append
	Deleted int   // 0 live, 1 soft-deleted, 2 hard-deleted
	// Duplicate: one of the ids is already in the stream; nothing was
	// written (the general path answers with the original result).
	Duplicate bool
	// Wrote: the events were written at LastPosition-len(IDs)+1 ..
	// LastPosition, versions Version+1 on.
	Wrote        bool
	LastPosition int64
}

// ErrSlowPath is returned by a Dialect.FastAppend that cannot run the
// append (its database handle is not the driver it needs): the store takes
// its general path.
var ErrSlowPath = errors.New("eventstore: append needs the general path")

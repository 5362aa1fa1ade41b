// Package sqlstore is the event store on database/sql that the SQLite and
// PostgreSQL backends share; a Dialect holds what differs between them.
package sqlstore

import (
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
	// DDL returns the statements that create the tables of prefix.
	DDL func(prefix string) []string
	// Sequence, if set, returns the statement that gives positions to
	// committed events that have none yet (see Store). A dialect with it
	// inserts events without positions unless the store has hooks.
	Sequence func(prefix string) string
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

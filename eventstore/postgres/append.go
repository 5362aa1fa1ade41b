package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/internal/sqlstore"
)

// lockStream creates the stream's row if needed and locks it.
const lockStream = `INSERT INTO %[1]s_streams AS s (stream, version, deleted, max_count, max_age_ms, truncate_before)
	VALUES ($1, -1, 0, 0, 0, 0) ON CONFLICT (stream) DO UPDATE SET deleted = s.deleted`

// appendEvents runs after lockStream, in a new snapshot that sees every
// append committed before the lock: it checks the tombstone, the ids
// (any already there: nothing is written and the store's general path
// answers) and the expectation ($2, an eventstore.ExpectedVersion), and
// only if they pass moves the stream's version, takes positions from the
// head row and inserts the events (in that order, by the CTEs' data
// dependencies: the head row is locked as late as can be). It also turns
// the transaction's synchronous commit off (see the package doc).
const appendEvents = `WITH s AS (
	SELECT version AS v, deleted AS d,
		EXISTS (SELECT 1 FROM %[1]s e WHERE e.stream = $1 AND e.id = ANY($3::text[])) AS dup
	FROM %[1]s_streams WHERE stream = $1
), ok AS (
	SELECT v, d, dup, d <> 2 AND NOT dup AND CASE
		WHEN $2::bigint = -1 THEN true
		WHEN $2::bigint = -2 THEN v < 0
		WHEN $2::bigint = -3 THEN v >= 0
		WHEN $2::bigint < 0 THEN false
		ELSE v = $2::bigint END AS go
	FROM s
), up AS (
	UPDATE %[1]s_streams SET version = ok.v + cardinality($3::text[]), deleted = 0 FROM ok WHERE stream = $1 AND ok.go
	RETURNING 1
), hd AS (
	UPDATE %[1]s_head SET position = position + cardinality($3::text[]) WHERE id = 0 AND EXISTS (SELECT 1 FROM up)
	RETURNING position
), ins AS (
	INSERT INTO %[1]s (position, stream, version, id, type, recorded_at, headers, data)
	SELECT hd.position - cardinality($3::text[]) + e.i, $1, ok.v + e.i, e.id, e.type, $7::bigint, e.headers, e.data
	FROM hd, ok, unnest($3::text[], $4::text[], $5::text[], $6::bytea[]) WITH ORDINALITY AS e(id, type, headers, data, i)
)
SELECT ok.v, ok.d, ok.dup, ok.go, coalesce((SELECT position FROM hd), 0),
	set_config('synchronous_commit', 'off', true)
FROM ok`

// The one-statement appends: an append whose expectation names the
// version the stream must be at ($2) moves the stream's version in its
// first step, with no lock taken before, so the stream row gets one new
// tuple version per append instead of two (lockStream's and the move).
// That step writes only if the stream is at $2, is not a tombstone and
// holds none of the ids; it does nothing otherwise, and the append runs
// again as lockStream and appendEvents, which answer the conflict, the
// tombstone or the repeat.
//
// Why a check made before the row's lock is enough: under READ COMMITTED
// an UPDATE that waits for a concurrent writer of its row re-checks its
// WHERE on the row's newest version (the ids' check is an InitPlan, run
// once on the statement's snapshot). If the newest version still says $2,
// no append moved the stream since the snapshot (versions only grow), so
// what the snapshot said about the ids is still true.
//
//   - knownExact: eventstore.Exact($2).
//   - knownExists: eventstore.StreamExists ($2 = 0): the stream is at
//     the version the snapshot saw, and that version is 0 or more.
//   - knownNoStream: eventstore.NoStream ($2 = -1): the stream has no
//     row (a new stream holds no events, so no id can repeat). A plain
//     INSERT, not INSERT .. ON CONFLICT, whose speculative insertion costs
//     a WAL record more: if an append that created the row concurrently
//     commits first, the insert fails with a unique violation, and the
//     append runs again on the lock path like any append that wrote
//     nothing (a stream whose row is at -1 takes that path too).
const (
	knownExact = `WITH up AS (
	UPDATE %[1]s_streams SET version = version + cardinality($3::text[]), deleted = 0
	WHERE stream = $1 AND version = $2::bigint AND deleted <> 2
		AND NOT EXISTS (SELECT 1 FROM %[1]s e WHERE e.stream = $1 AND e.id = ANY($3::text[]))
	RETURNING version - cardinality($3::text[]) AS v
)` + knownTail
	knownExists = `WITH up AS (
	UPDATE %[1]s_streams SET version = version + cardinality($3::text[]), deleted = 0
	WHERE stream = $1 AND version >= $2::bigint AND version = (SELECT version FROM %[1]s_streams WHERE stream = $1)
		AND deleted <> 2 AND NOT EXISTS (SELECT 1 FROM %[1]s e WHERE e.stream = $1 AND e.id = ANY($3::text[]))
	RETURNING version - cardinality($3::text[]) AS v
)` + knownTail
	knownNoStream = `WITH up AS (
	INSERT INTO %[1]s_streams (stream, version, deleted, max_count, max_age_ms, truncate_before)
	SELECT $1, $2::bigint + cardinality($3::text[]), 0, 0, 0, 0
	WHERE NOT EXISTS (SELECT 1 FROM %[1]s_streams WHERE stream = $1)
	RETURNING $2::bigint AS v
)` + knownTail
	// knownTail takes the positions (after the stream's step, by the data
	// dependency) and inserts the events; the statement returns the
	// stream's version before the append and the last position, 0 if it
	// wrote nothing.
	knownTail = `, hd AS (
	UPDATE %[1]s_head SET position = position + cardinality($3::text[]) WHERE id = 0 AND EXISTS (SELECT 1 FROM up)
	RETURNING position
), ins AS (
	INSERT INTO %[1]s (position, stream, version, id, type, recorded_at, headers, data)
	SELECT hd.position - cardinality($3::text[]) + e.i, $1, up.v + e.i, e.id, e.type, $7::bigint, e.headers, e.data
	FROM hd, up, unnest($3::text[], $4::text[], $5::text[], $6::bytea[]) WITH ORDINALITY AS e(id, type, headers, data, i)
)
SELECT coalesce((SELECT v FROM up), -1), coalesce((SELECT position FROM hd), 0),
	set_config('synchronous_commit', 'off', true)`
)

// stmt is a statement that the fast path prepares on each connection
// under a name derived from its text.
type stmt struct{ name, sql string }

func newStmt(sql string) stmt {
	h := fnv.New64a()
	h.Write([]byte(sql))
	return stmt{name: fmt.Sprintf("herald_es_%016x", h.Sum64()), sql: sql}
}

// statements are the fast path's statements for one store's tables.
type statements struct {
	lock, write                    string // lockStream, appendEvents
	exact, exists, noStream, flush stmt   // the one-statement appends; the flush
}

func newStatements(prefix string) statements {
	f := func(q string) string { return fmt.Sprintf(q, prefix) }
	return statements{lock: f(lockStream), write: f(appendEvents),
		exact: newStmt(f(knownExact)), exists: newStmt(f(knownExists)), noStream: newStmt(f(knownNoStream)),
		flush: newStmt("SELECT " + flush + "::text")}
}

// known returns the one-statement append for the expectation and its $2,
// or false for eventstore.Any.
func (st *statements) known(expected int64) (q stmt, at int64, ok bool) {
	switch e := eventstore.ExpectedVersion(expected); {
	case e == eventstore.NoStream:
		return st.noStream, -1, true
	case e == eventstore.StreamExists:
		return st.exists, 0, true
	case e >= 0:
		return st.exact, expected, true
	}
	return stmt{}, 0, false
}

// fastAppend is the dialect's FastAppend: a one-statement append goes
// through the store's group (group.go), which commits it with other
// queued appends and flushes them together; an append with Any, and a
// one-statement append that wrote nothing, runs as the general batch
// (runAppend) on a connection of its own.
func fastAppend(prefix string) func(context.Context, *sql.DB, sqlstore.FastAppend) (sqlstore.FastResult, error) {
	st := newStatements(prefix)
	var once sync.Once
	var g *group
	return func(ctx context.Context, db *sql.DB, in sqlstore.FastAppend) (sqlstore.FastResult, error) {
		if q, at, ok := st.known(in.Expected); ok {
			once.Do(func() { g = newGroup(db, &st) })
			a, err := g.run(ctx, &groupOp{in: in, q: q, at: at})
			if err != nil || a.Wrote {
				return a.FastResult, err
			}
		}
		var out sqlstore.FastResult
		conn, err := db.Conn(ctx)
		if err != nil {
			return out, fmt.Errorf("eventstore: append to %q: %w", in.Stream, err)
		}
		defer conn.Close()
		err = conn.Raw(func(dc any) error {
			c, ok := dc.(*stdlib.Conn)
			if !ok {
				return sqlstore.ErrSlowPath
			}
			a, err := runAppend(ctx, c.Conn(), st.lock, st.write, in)
			out = a.FastResult
			return err
		})
		return out, err
	}
}

// errNotDurable: the append committed but the flush after it failed.
var errNotDurable = errors.New("the append committed, but the flush that makes it durable failed (retrying with the same event ids is safe)")

// appended is what runAppend or runKnown did.
type appended struct {
	sqlstore.FastResult
	flushLSN string // the flush's WAL record: durable when the append returns
}

// runAppend sends the batch (lock and write are lockStream and
// appendEvents for the store's tables) and reads its results.
func runAppend(ctx context.Context, c *pgx.Conn, lock, write string, in sqlstore.FastAppend) (appended, error) {
	var out appended
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(lock, in.Stream)
	b.Queue(write, in.Stream, in.Expected, in.IDs, in.Types, in.Headers, in.Data, in.Recorded)
	b.Queue("COMMIT")
	b.Queue("SELECT " + flush + "::text")
	br := c.SendBatch(ctx, b)
	_, err := br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	var sync string
	if err == nil {
		err = br.QueryRow().Scan(&out.Version, &out.Deleted, &out.Duplicate, &out.Wrote, &out.LastPosition, &sync)
	}
	return out, finish(ctx, c, br, in.Stream, &out.flushLSN, err)
}

// readKnown reads a one-statement append's result.
func readKnown(r *pgconn.ResultReader, out *appended) error {
	var err error
	if r.NextRow() {
		err = scanKnown(r.Values(), out)
	}
	_, cerr := r.Close()
	return cmp.Or(cerr, err)
}

// uniqueViolation is PostgreSQL's SQLSTATE unique_violation.
const uniqueViolation = "23505"

// binaryParams are the parameter formats of the one-statement appends:
// all binary.
var binaryParams = [...]int16{1, 1, 1, 1, 1, 1, 1}

// scanKnown reads a one-statement append's row (text format): the
// stream's version before the append and the last position (0: nothing
// written).
func scanKnown(v [][]byte, out *appended) error {
	if len(v) < 2 {
		return fmt.Errorf("append returned %d columns", len(v))
	}
	var err error
	if out.Version, err = strconv.ParseInt(string(v[0]), 10, 64); err == nil {
		out.LastPosition, err = strconv.ParseInt(string(v[1]), 10, 64)
	}
	out.Wrote = out.LastPosition > 0
	return err
}

// knownParams are the parameter types of the one-statement appends, in
// order: stream, version ($2), ids, types, headers, data, recorded.
var knownParams = []uint32{pgtype.TextOID, pgtype.Int8OID, pgtype.TextArrayOID, pgtype.TextArrayOID,
	pgtype.TextArrayOID, pgtype.ByteaArrayOID, pgtype.Int8OID}

// encodeKnown encodes the parameters of a one-statement append in binary,
// in one buffer (a statement whose parameter types are not knownParams is
// a bug in this package).
func encodeKnown(oids []uint32, at int64, in sqlstore.FastAppend) ([][]byte, error) {
	if !slices.Equal(oids, knownParams) {
		return nil, fmt.Errorf("append statement takes parameters %v, want %v", oids, knownParams)
	}
	n := len(in.Stream) + 16 + 4*(5*4+5*len(in.IDs))
	for i := range in.IDs {
		n += len(in.IDs[i]) + len(in.Types[i]) + len(in.Headers[i]) + len(in.Data[i])
	}
	buf := make([]byte, 0, n)
	var ends [7]int
	buf = append(buf, in.Stream...)
	ends[0] = len(buf)
	buf = binary.BigEndian.AppendUint64(buf, uint64(at))
	ends[1] = len(buf)
	for i, col := range [][]string{in.IDs, in.Types, in.Headers} {
		buf = appendArray(buf, pgtype.TextOID, len(col), func(b []byte, j int) ([]byte, bool) { return append(b, col[j]...), false })
		ends[2+i] = len(buf)
	}
	buf = appendArray(buf, pgtype.ByteaOID, len(in.Data), func(b []byte, j int) ([]byte, bool) {
		return append(b, in.Data[j]...), in.Data[j] == nil
	})
	ends[5] = len(buf)
	buf = binary.BigEndian.AppendUint64(buf, uint64(in.Recorded))
	ends[6] = len(buf)
	params := make([][]byte, len(ends))
	start := 0
	for i, e := range ends {
		params[i], start = buf[start:e:e], e
	}
	return params, nil
}

// appendArray appends a one-dimensional array of n elements of type oid
// in PostgreSQL's binary array format; elem appends element j, or
// returns null.
//
//	ndim int32 = 1 | has_nulls int32 | element oid int32
//	| length int32 = n | lower bound int32 = 1
//	| n × (element length int32, -1 for NULL | element bytes)
func appendArray(b []byte, oid uint32, n int, elem func(b []byte, j int) (_ []byte, null bool)) []byte {
	head := len(b)
	for _, v := range [...]uint32{1, 0, oid, uint32(n), 1} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	for j := range n {
		at := len(b)
		var null bool
		b, null = elem(append(b, 0, 0, 0, 0), j)
		l := uint32(len(b) - at - 4)
		if null {
			l = math.MaxUint32 // -1
			binary.BigEndian.PutUint32(b[head+4:], 1)
		}
		binary.BigEndian.PutUint32(b[at:], l)
	}
	return b
}

// finish reads the COMMIT and the flush that end an append's batch (err:
// what the statements before them returned), closes the batch and, after
// a failure, rolls back what is left of the transaction.
func finish(ctx context.Context, c *pgx.Conn, br pgx.BatchResults, stream string, flushLSN *string, err error) error {
	if err == nil {
		_, err = br.Exec()
		if err == nil {
			if err = br.QueryRow().Scan(flushLSN); err != nil {
				err = fmt.Errorf("%w: %w", errNotDurable, err)
			}
		}
	}
	err = errors.Join(err, br.Close())
	if err == nil {
		return nil
	}
	if !c.IsClosed() && c.PgConn().TxStatus() != 'I' {
		// A failed statement leaves the transaction open and aborted.
		_, rbErr := c.Exec(ctx, "ROLLBACK")
		err = errors.Join(err, rbErr)
	}
	return appendErr(c, stream, err)
}

// appendErr wraps the error of a fast append; a closed connection is
// also driver.ErrBadConn, so that database/sql drops it.
func appendErr(c *pgx.Conn, stream string, err error) error {
	if c.IsClosed() {
		err = errors.Join(err, driver.ErrBadConn)
	}
	return fmt.Errorf("eventstore: append to %q (if it committed, retrying with the same event ids is safe): %w", stream, err)
}

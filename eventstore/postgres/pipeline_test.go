package postgres

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/eventstoretest"
	"github.com/heraldhq/herald/eventstore/internal/sqlstore"
)

// TestPipelinedAppendIsDurable: the pipelined appends (lock then write;
// one statement through the group) commit asynchronously; when they
// return, the WAL must be flushed past the flush record written after
// their commit (so past the commit too), and the session must be back to
// synchronous commits.
func TestPipelinedAppendIsDurable(t *testing.T) {
	ctx := context.Background()
	db, prefix := newDB(t)
	if _, err := New(ctx, db, Config{Prefix: prefix}); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st := newStatements(prefix)
	run := map[string]func(*pgx.Conn, sqlstore.FastAppend) (appended, error){
		"lock": func(c *pgx.Conn, in sqlstore.FastAppend) (appended, error) {
			return runAppend(ctx, c, st.lock, st.write, in)
		},
		"known": func(_ *pgx.Conn, in sqlstore.FastAppend) (appended, error) {
			q, at, _ := st.known(in.Expected)
			g := newGroup(db, &st)
			return g.run(ctx, &groupOp{in: in, q: q, at: at})
		},
	}
	for i, path := range []string{"lock", "known"} {
		e := eventstoretest.Event("x", "1")
		in := sqlstore.FastAppend{Stream: path, Expected: int64(eventstore.NoStream), IDs: []string{e.ID},
			Types: []string{e.Type}, Headers: []string{""}, Data: [][]byte{e.Data}, Recorded: 1}
		var got appended
		err = conn.Raw(func(dc any) error {
			var err error
			got, err = run[path](dc.(*stdlib.Conn).Conn(), in)
			return err
		})
		if err != nil || !got.Wrote || got.LastPosition != int64(i+1) || got.Version != -1 {
			t.Fatalf("%s: append: %+v, %v", path, got, err)
		}
		var flushed bool
		if err := db.QueryRowContext(ctx, `SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn`, got.flushLSN).Scan(&flushed); err != nil {
			t.Fatal(err)
		}
		if !flushed {
			t.Fatalf("%s: the append returned before the WAL was flushed past its flush record %s", path, got.flushLSN)
		}
		// The asynchronous commit is the append's transaction's only.
		var sc string
		if err := conn.QueryRowContext(ctx, `SHOW synchronous_commit`).Scan(&sc); err != nil || sc == "off" {
			t.Fatalf("%s: synchronous_commit after the append: %q (%v)", path, sc, err)
		}
	}
}

// TestPipelinedAppendEdges: the pipelined path answers a conflict, a
// tombstone and a repeated append as the general path does, and leaves
// its connection usable after a failed batch.
func TestPipelinedAppendEdges(t *testing.T) {
	ctx := context.Background()
	db, prefix := newDB(t)
	db.SetMaxOpenConns(1) // every append on the same connection
	s, err := New(ctx, db, Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	e := eventstoretest.Event("x", "1")
	first, err := s.Append(ctx, "p", eventstore.NoStream, e)
	if err != nil || first.FirstPosition != 1 || first.LastVersion != 0 {
		t.Fatalf("first append: %+v, %v", first, err)
	}
	again, err := s.Append(ctx, "p", eventstore.NoStream, e)
	if err != nil || !again.Duplicate || again.FirstPosition != 1 || again.LastVersion != 0 {
		t.Fatalf("repeated append: %+v, %v, want the first result", again, err)
	}
	_, err = s.Append(ctx, "p", eventstore.Exact(5), eventstoretest.Event("x", "2"))
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) || ce.Actual != 0 {
		t.Fatalf("conflict: %v", err)
	}
	// A failed statement mid-batch (a value PostgreSQL refuses: NUL in
	// text) rolls the append back, and the connection still works.
	// Both paths: the lock path (Any) and the one-statement one (exact).
	bad := eventstoretest.Event("x\x00y", "3")
	for _, exp := range []eventstore.ExpectedVersion{eventstore.Any, eventstore.Exact(0)} {
		if _, err := s.Append(ctx, "p", exp, bad); err == nil {
			t.Fatalf("%v: an event type with a NUL byte was stored", exp)
		}
		if info, err := s.Stream(ctx, "p"); err != nil || info.Version != 0 {
			t.Fatalf("%v: stream after the failed append: %+v, %v", exp, info, err)
		}
	}
	if err := s.Delete(ctx, "p", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "p", eventstore.Any, eventstoretest.Event("x", "4")); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("append to a tombstone: %v", err)
	}
	res, err := s.Append(ctx, "q", eventstore.Any, eventstoretest.Event("x", "5"), eventstoretest.Event("x", "6"))
	if err != nil || res.FirstPosition != 2 || res.LastPosition != 3 {
		t.Fatalf("append after the failures: %+v, %v (positions must have no holes)", res, err)
	}
	if head, err := s.Head(ctx); err != nil || head != 3 {
		t.Fatalf("head %d (%v), want 3", head, err)
	}
}

// TestOpensEarlierStore: a store of an earlier version inserted events
// without positions and numbered them after the commit; an appender that
// died in between left rows without one. A store of this version numbers
// them when it opens, answers a repeat of their append with their
// positions, and appends after them.
func TestOpensEarlierStore(t *testing.T) {
	ctx := context.Background()
	db, prefix := newDB(t)
	// The events table as the earlier version created it; New creates
	// the other tables and the index of rows without positions.
	if _, err := db.ExecContext(ctx, `CREATE TABLE `+prefix+` (seq BIGSERIAL PRIMARY KEY, position BIGINT UNIQUE,
		tx xid8 NOT NULL DEFAULT pg_current_xact_id(), stream TEXT NOT NULL,
		version BIGINT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, recorded_at BIGINT NOT NULL,
		headers TEXT NOT NULL, data BYTEA, UNIQUE (stream, version))`); err != nil {
		t.Fatal(err)
	}
	old, err := New(ctx, db, Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	var indexed bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, prefix+"_unsequenced").Scan(&indexed); err != nil || !indexed {
		t.Fatalf("no index of rows without positions on the earlier table (%v)", err)
	}
	var appendedIDs []string
	for _, d := range []string{"1", "2", "3"} {
		e := eventstoretest.Event("x", d)
		if _, err := old.Append(ctx, "legacy", eventstore.Any, e); err != nil {
			t.Fatal(err)
		}
		appendedIDs = append(appendedIDs, e.ID)
	}
	unsequence := func() {
		t.Helper()
		for _, q := range []string{`UPDATE ` + prefix + ` SET position = NULL`, `UPDATE ` + prefix + `_head SET position = 0`} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
	unsequence()
	s, err := New(ctx, db, Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.ReadAll(ctx, 0, 0)
	if err != nil || len(all) != 3 {
		t.Fatalf("$all after opening: %d events (%v), want 3", len(all), err)
	}
	for i, r := range all {
		if r.Position != int64(i+1) || r.ID != appendedIDs[i] {
			t.Fatalf("$all[%d] = position %d id %s, want %d %s", i, r.Position, r.ID, i+1, appendedIDs[i])
		}
	}
	// Rows left without positions while the store is open: a stream
	// read and a repeated append number them.
	unsequence()
	recs, err := s.ReadStream(ctx, "legacy", eventstore.ReadOptions{})
	if err != nil || len(recs) != 3 || recs[0].Position != 1 || recs[2].Position != 3 {
		t.Fatalf("stream read of unnumbered rows: %d events (%v)", len(recs), err)
	}
	unsequence()
	dup, err := s.Append(ctx, "legacy", eventstore.Any, all[1].Event)
	if err != nil || !dup.Duplicate || dup.FirstPosition != 2 || dup.FirstVersion != 1 {
		t.Fatalf("repeat of an unnumbered append: %+v, %v", dup, err)
	}
	res, err := s.Append(ctx, "legacy", eventstore.Exact(2), eventstoretest.Event("x", "4"))
	if err != nil || res.FirstPosition != 4 || res.FirstVersion != 3 {
		t.Fatalf("append after the earlier rows: %+v, %v", res, err)
	}
}

// TestDurableStatementFlushes: the statement ReadAll runs before it hands
// out events that may not be durable yet flushes the WAL past a commit
// made with synchronous_commit off just before it.
func TestDurableStatementFlushes(t *testing.T) {
	ctx := context.Background()
	db, prefix := newDB(t)
	s, err := New(ctx, db, Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "a", eventstore.Any, eventstoretest.Event("x", "1")); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`SET LOCAL synchronous_commit = off`,
		`INSERT INTO ` + prefix + `_snapshots (stream, version, schema_version) VALUES ('a', 0, 1)`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var written string
	if err := db.QueryRowContext(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&written); err != nil {
		t.Fatal(err)
	}
	var head int64
	var flushed bool
	if err := db.QueryRowContext(ctx, dialect.Durable(prefix)).Scan(&head, &flushed); err != nil || head != 1 {
		t.Fatalf("durable statement: head %d (%v), want 1", head, err)
	}
	var ok bool
	if err := db.QueryRowContext(ctx, `SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn`, written).Scan(&ok); err != nil || !ok {
		t.Fatalf("WAL not flushed past %s after the durable statement (flushed: %v, %v)", written, flushed, err)
	}
}

// TestEncodeKnown: the hand-written binary parameters of the
// one-statement appends decode as pgx's own encoding of the same values
// does, NULL data included.
func TestEncodeKnown(t *testing.T) {
	in := sqlstore.FastAppend{Stream: "s-1", IDs: []string{"a", "bé"}, Types: []string{"t", ""},
		Headers: []string{"2:ce3:x", ""}, Data: [][]byte{[]byte("{}"), nil}, Recorded: 1234567}
	params, err := encodeKnown(knownParams, -1, in)
	if err != nil {
		t.Fatal(err)
	}
	m := pgtype.NewMap()
	var stream string
	var at, rec int64
	var ids, types, headers []string
	var data [][]byte
	for i, dst := range []any{&stream, &at, &ids, &types, &headers, &data, &rec} {
		if err := m.Scan(knownParams[i], pgtype.BinaryFormatCode, params[i], dst); err != nil {
			t.Fatalf("parameter %d: %v", i+1, err)
		}
	}
	if stream != in.Stream || at != -1 || rec != in.Recorded || !slices.Equal(ids, in.IDs) || !slices.Equal(types, in.Types) ||
		!slices.Equal(headers, in.Headers) || len(data) != 2 || string(data[0]) != "{}" || data[1] != nil {
		t.Fatalf("decoded %q %d %q %q %q %q %d", stream, at, ids, types, headers, data, rec)
	}
	if _, err := encodeKnown(knownParams[1:], 0, in); err == nil {
		t.Fatal("parameters encoded for a statement of other types")
	}
}

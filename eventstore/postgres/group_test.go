package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/eventstoretest"
	"github.com/heraldhq/herald/eventstore/internal/sqlstore"
	"github.com/heraldhq/herald/internal/testenv"
)

// groupFixture is a store's tables, its group, and ops for it.
type groupFixture struct {
	t      *testing.T
	s      eventstore.Store
	g      *group
	st     statements
	prefix string
}

func newGroupFixture(t *testing.T) *groupFixture {
	t.Helper()
	db, prefix := newDB(t)
	s, err := New(context.Background(), db, Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	f := &groupFixture{t: t, s: s, st: newStatements(prefix), prefix: prefix}
	f.g = newGroup(db, &f.st)
	return f
}

// op is an append of one event of type typ to stream with expected.
func (f *groupFixture) op(stream string, expected eventstore.ExpectedVersion, typ string) *groupOp {
	q, at, ok := f.st.known(int64(expected))
	if !ok {
		f.t.Fatalf("no one-statement append for %v", expected)
	}
	e := eventstoretest.Event(typ, "d")
	in := sqlstore.FastAppend{Stream: stream, Expected: int64(expected), IDs: []string{e.ID}, Types: []string{e.Type},
		Headers: []string{""}, Data: [][]byte{e.Data}, Recorded: 1}
	return &groupOp{ctx: context.Background(), in: in, q: q, at: at, done: make(chan struct{})}
}

// queue puts ops in the group's queue together and starts the writer, so
// that they are taken as the writer's batches would be.
func (f *groupFixture) queue(ops ...*groupOp) {
	f.g.mu.Lock()
	f.g.queue = append(f.g.queue, ops...)
	f.g.writing = true
	f.g.mu.Unlock()
	go f.g.write()
	for _, op := range ops {
		select {
		case <-op.done:
		case <-time.After(30 * time.Second):
			f.t.Fatalf("append to %s: no result", op.in.Stream)
		}
	}
}

func (f *groupFixture) version(stream string) int64 {
	f.t.Helper()
	info, err := f.s.Stream(context.Background(), stream)
	if err != nil {
		f.t.Fatal(err)
	}
	return info.Version
}

// TestGroupBatchFailure: a batch whose one statement fails (a NUL byte
// in an event type) rolls back as one transaction, runs again append by
// append, and then only the bad append fails; the others are written, at
// positions without holes, and the batch's stream versions move once.
func TestGroupBatchFailure(t *testing.T) {
	f := newGroupFixture(t)
	ctx := context.Background()
	if _, err := f.s.Append(ctx, "a", eventstore.NoStream, eventstoretest.Event("x", "0")); err != nil {
		t.Fatal(err)
	}
	good, bad, fresh := f.op("a", eventstore.Exact(0), "x"), f.op("b", eventstore.NoStream, "x\x00y"), f.op("c", eventstore.NoStream, "x")

	// The one-transaction form alone: nothing written, and false.
	conn, err := f.g.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = conn.Raw(func(dc any) error {
		c, batch := dc.(*stdlib.Conn).Conn(), []*groupOp{good, bad, fresh}
		sts, err := prepareBatch(ctx, c, batch)
		if err != nil {
			return err
		}
		ok, err := runBatchTx(ctx, c, batch, sts)
		if err == nil && ok {
			err = errors.New("a batch with a failing statement committed")
		}
		return err
	})
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	if v := f.version("a"); v != 0 {
		t.Fatalf("stream a at version %d after the rolled-back batch, want 0", v)
	}
	if head, err := f.s.Head(ctx); err != nil || head != 1 {
		t.Fatalf("head %d (%v) after the rolled-back batch, want 1", head, err)
	}

	good, bad, fresh = f.op("a", eventstore.Exact(0), "x"), f.op("b", eventstore.NoStream, "x\x00y"), f.op("c", eventstore.NoStream, "x")
	f.queue(good, bad, fresh)
	if good.err != nil || !good.out.Wrote || good.out.Version != 0 || good.out.flushLSN == "" {
		t.Fatalf("good append: %+v, %v", good.out, good.err)
	}
	if bad.err == nil || bad.out.Wrote {
		t.Fatalf("bad append: %+v, %v; want its statement's error", bad.out, bad.err)
	}
	if fresh.err != nil || !fresh.out.Wrote || fresh.out.Version != -1 {
		t.Fatalf("fresh append: %+v, %v", fresh.out, fresh.err)
	}
	if good.out.LastPosition != 2 || fresh.out.LastPosition != 3 {
		t.Fatalf("positions %d and %d, want 2 and 3", good.out.LastPosition, fresh.out.LastPosition)
	}
	if v := f.version("b"); v != -1 {
		t.Fatalf("stream b at version %d, want none", v)
	}
}

// TestGroupSameStream: two appends to one stream queued together run in
// separate batches, in order: the second sees the first.
func TestGroupSameStream(t *testing.T) {
	f := newGroupFixture(t)
	first, second, other := f.op("s", eventstore.NoStream, "x"), f.op("s", eventstore.Exact(0), "x"), f.op("t", eventstore.NoStream, "x")
	stale := f.op("s", eventstore.Exact(0), "x") // expects what first leaves, but second moves it on
	f.queue(first, second, other, stale)
	for i, op := range []*groupOp{first, second, other} {
		if op.err != nil || !op.out.Wrote {
			t.Fatalf("append %d: %+v, %v", i, op.out, op.err)
		}
	}
	if second.out.Version != 0 || second.out.LastPosition <= first.out.LastPosition {
		t.Fatalf("second append: %+v after %+v", second.out, first.out)
	}
	if stale.err != nil || stale.out.Wrote {
		t.Fatalf("stale append: %+v, %v; want nothing written (a conflict on the general path)", stale.out, stale.err)
	}
	if v := f.version("s"); v != 1 {
		t.Fatalf("stream s at version %d, want 1", v)
	}
}

// TestGroupCancelled: an append whose caller gave up before the writer
// took it is not run.
func TestGroupCancelled(t *testing.T) {
	f := newGroupFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone, kept := f.op("gone", eventstore.NoStream, "x"), f.op("kept", eventstore.NoStream, "x")
	gone.ctx = ctx
	f.queue(gone, kept)
	if !errors.Is(gone.err, context.Canceled) || gone.out.Wrote {
		t.Fatalf("cancelled append: %+v, %v", gone.out, gone.err)
	}
	if kept.err != nil || !kept.out.Wrote {
		t.Fatalf("append after it: %+v, %v", kept.out, kept.err)
	}
	if v := f.version("gone"); v != -1 {
		t.Fatalf("the cancelled append wrote: version %d", v)
	}
}

// TestGroupIdle: once appends stop, the writer and the flusher end (and
// the writer's connection goes back to the pool); the next append starts
// them again.
func TestGroupIdle(t *testing.T) {
	f := newGroupFixture(t)
	ctx := context.Background()
	stopped := func() error {
		f.g.mu.Lock()
		defer f.g.mu.Unlock()
		if f.g.writing || f.g.flushing {
			return fmt.Errorf("writer running %v, flusher running %v", f.g.writing, f.g.flushing)
		}
		return nil
	}
	for i := range 3 {
		expected := eventstore.NoStream
		if i > 0 {
			expected = eventstore.Exact(int64(i) - 1)
		}
		op := f.op("i", expected, "x")
		if _, err := f.g.run(ctx, op); err != nil || !op.out.Wrote {
			t.Fatalf("append %d: %+v, %v", i, op.out, err)
		}
		testenv.CheckFor(t, 10*time.Second, stopped)
	}
	if v := f.version("i"); v != 2 {
		t.Fatalf("stream at version %d, want 2", v)
	}
}

// TestGroupBatchYieldsLocks: a batch's transaction holds the head row
// from its first append while a later append waits for its stream's row.
// Here another transaction T holds that row and then asks for the head:
// a deadlock. T's deadlock check runs first (its deadlock_timeout, 500
// ms, ends before the batch's default 1 s), so without the batch's own
// lock timeout T would be the one to fail. With it the batch gives up
// after 100 ms, rolls back and runs again append by append: T gets the
// head, and once T ends both appends are written.
func TestGroupBatchYieldsLocks(t *testing.T) {
	f := newGroupFixture(t)
	ctx := context.Background()
	if _, err := f.s.Append(ctx, "r", eventstore.NoStream, eventstoretest.Event("x", "0")); err != nil {
		t.Fatal(err)
	}
	tx, err := f.g.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	var pid int
	if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`SET LOCAL deadlock_timeout = '500ms'`,
		`SELECT 1 FROM ` + f.prefix + `_streams WHERE stream = 'r' FOR UPDATE`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	x, r := f.op("x", eventstore.NoStream, "x"), f.op("r", eventstore.Exact(0), "x")
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.queue(x, r)
	}()
	testenv.CheckFor(t, 10*time.Second, func() error { return blockedBy(f.g.db, pid) })
	if _, err := tx.ExecContext(ctx, `UPDATE `+f.prefix+`_head SET position = position WHERE id = 0`); err != nil {
		t.Fatalf("T, waiting for the head that the batch holds: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	<-done
	for _, op := range []*groupOp{x, r} {
		if op.err != nil || !op.out.Wrote {
			t.Fatalf("append to %s: %+v, %v", op.in.Stream, op.out, op.err)
		}
	}
	if x.out.LastPosition != 2 || r.out.LastPosition != 3 || r.out.Version != 0 {
		t.Fatalf("x at %d, r at %d (version before %d); want 2, 3 and 0", x.out.LastPosition, r.out.LastPosition, r.out.Version)
	}
}

// TestGroupConnectionLost: the server ends the writer's connection
// between two batches. The next append either fails with an error (and
// writes nothing) or succeeds; a retry with the same event ids then
// succeeds, the stream holds the event once, and the writer goes on with
// a new connection.
func TestGroupConnectionLost(t *testing.T) {
	f := newGroupFixture(t)
	ctx := context.Background()
	if _, err := f.s.Append(ctx, "l", eventstore.NoStream, eventstoretest.Event("x", "0")); err != nil {
		t.Fatal(err)
	}
	// The writer lingers on its connection, whose last statement names
	// this test's tables; end it.
	var n int
	err := f.g.db.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND query LIKE '%' || $1 || '_streams%' AND query NOT LIKE '%pg_stat_activity%'`, f.prefix).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("ended %d connections (%v), want the writer's", n, err)
	}
	e := eventstoretest.Event("x", "1")
	res, err := f.s.Append(ctx, "l", eventstore.Exact(0), e)
	if err != nil {
		if v := f.version("l"); v != 0 {
			t.Fatalf("the failed append moved the stream to %d", v)
		}
		if res, err = f.s.Append(ctx, "l", eventstore.Exact(0), e); err != nil {
			t.Fatalf("retry: %v", err)
		}
	}
	if res.FirstVersion != 1 {
		t.Fatalf("append: %+v", res)
	}
	if again, err := f.s.Append(ctx, "l", eventstore.Exact(0), e); err != nil || !again.Duplicate || again.FirstPosition != res.FirstPosition {
		t.Fatalf("repeat: %+v, %v; want the first result", again, err)
	}
	if next, err := f.s.Append(ctx, "l", eventstore.Exact(1), eventstoretest.Event("x", "2")); err != nil || next.FirstVersion != 2 {
		t.Fatalf("append after: %+v, %v", next, err)
	}
}

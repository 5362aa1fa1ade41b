package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/heraldhq/herald/eventstore/internal/sqlstore"
)

// Group commit of the one-statement appends.
//
// A store's one-statement appends (exact, NoStream and StreamExists
// expectations, no hooks) do not each run on their own connection.
// They queue, and one writer goroutine per store sends whatever has
// queued as one pipeline on its connection: the appends' statements in
// one implicit transaction (runBatchTx; append by append, each in its own
// transaction, if one fails: runBatch), committed asynchronously. A
// flusher goroutine then makes them durable together: one flush (flush,
// committed synchronously) started after their commits covers every
// append committed before it. An append returns after its flush.
//
// Why: the head row's lock serialises the appends that take positions.
// Concurrent appends on their own connections wait for it inside
// PostgreSQL (a sleep and a wake-up per wait, and a re-check of the
// row), and each pays a flush transaction of its own. One writer per
// store takes the head row without waiting for its own process, and
// queued appends share a round trip and a flush. Appends of other
// processes (other Store values) still take the head row's lock as
// before, so positions stay gap-free and in commit order.
//
// A batch holds each stream at most once, so an append never runs in the
// same batch as an earlier one to its stream. The writer and the
// flusher run only while there is work, and hold a connection only then.
type group struct {
	db *sql.DB
	st *statements

	mu        sync.Mutex
	queue     []*groupOp // waiting for the writer, in arrival order
	writing   bool       // the writer goroutine runs
	committed []*groupOp // committed, waiting for a flush to start
	flushing  bool       // the flusher goroutine runs

	// wakeWriter and wakeFlusher (capacity 1) tell an idle writer or
	// flusher that work came.
	wakeWriter, wakeFlusher chan struct{}
}

// groupLinger is about how long an idle writer or flusher waits for more
// work before it ends (and the writer gives its connection back): long
// enough that a steady stream of appends keeps them (a goroutine started
// per burst costs more than the appends' own work), short enough that
// an idle store holds nothing for long.
const groupLinger = 100 * time.Millisecond

func newGroup(db *sql.DB, st *statements) *group {
	return &group{db: db, st: st, wakeWriter: make(chan struct{}, 1), wakeFlusher: make(chan struct{}, 1)}
}

// idle waits for wake, or for the next tick of a ticker of period
// groupLinger. It returns true when the goroutine is to end: a whole
// period went by without work (*worked is false: nothing ran since the
// tick before), with *running cleared under the lock, so that work that
// arrives after that starts a new goroutine. (A ticker rather than a
// timer reset at each idle moment: a reset wakes the runtime's poller,
// which cost more than the appends' own work.)
func (g *group) idle(tick <-chan time.Time, wake <-chan struct{}, worked, running *bool, pending func() bool) bool {
	select {
	case <-wake:
		return false
	case <-tick:
	}
	if *worked {
		*worked = false
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if pending() {
		return false
	}
	*running = false
	return true
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// groupOp is one append in the group: its statement and parameters,
// and, when done is closed, its result.
type groupOp struct {
	ctx  context.Context
	in   sqlstore.FastAppend
	q    stmt  // the one-statement append
	at   int64 // its $2
	out  appended
	err  error
	ran  bool // its Sync came back: out and err are its statement's
	done chan struct{}
}

// Limits of one batch: appends, and bytes of events.
const (
	groupMaxOps   = 256
	groupMaxBytes = 8 << 20
)

// run queues op and waits for its result (or ctx: an append given up on
// may still commit, as any append whose reply is lost).
func (g *group) run(ctx context.Context, op *groupOp) (appended, error) {
	op.ctx, op.done = ctx, make(chan struct{})
	g.mu.Lock()
	g.queue = append(g.queue, op)
	start := !g.writing
	g.writing = true
	g.mu.Unlock()
	if start {
		go g.write()
	} else {
		signal(g.wakeWriter)
	}
	select {
	case <-op.done:
		return op.out, op.err
	case <-ctx.Done():
		return appended{}, fmt.Errorf("eventstore: append to %q (if it committed, retrying with the same event ids is safe): %w", op.in.Stream, ctx.Err())
	}
}

// serve runs a writer or flusher goroutine: rounds until one finds
// nothing to do, then idle (see idle) until woken or ended.
func (g *group) serve(running *bool, wake <-chan struct{}, pending func() bool, round func(*heldConn) bool) {
	h := &heldConn{db: g.db}
	defer h.close()
	tick := time.NewTicker(groupLinger)
	defer tick.Stop()
	worked := true
	for {
		if round(h) {
			worked = true
			continue
		}
		if g.idle(tick.C, wake, &worked, running, pending) {
			return
		}
	}
}

// heldConn is the connection a writer or flusher holds while it runs,
// taken from the pool at its first use.
type heldConn struct {
	db *sql.DB
	c  *sql.Conn
}

// raw runs f on the pgx connection. After an error (but ErrSlowPath:
// not a pgx connection) the connection goes: one that failed mid-pipeline
// may be unusable.
func (h *heldConn) raw(ctx context.Context, f func(*pgx.Conn) error) error {
	if h.c == nil {
		c, err := h.db.Conn(ctx)
		if err != nil {
			return err
		}
		h.c = c
	}
	err := h.c.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return sqlstore.ErrSlowPath
		}
		return f(c.Conn())
	})
	if err != nil && !errors.Is(err, sqlstore.ErrSlowPath) {
		h.close()
	}
	return err
}

func (h *heldConn) close() {
	if h.c != nil {
		h.c.Close()
		h.c = nil
	}
}

// write is the writer goroutine: it runs batches until the queue has
// been empty for groupLinger.
func (g *group) write() {
	g.serve(&g.writing, g.wakeWriter, func() bool { return len(g.queue) > 0 }, g.writeRound)
}

// writeRound runs the next batch, if any.
func (g *group) writeRound(h *heldConn) bool {
	batch := g.take()
	if len(batch) == 0 {
		return false
	}
	ctx := context.Background()
	err := h.raw(ctx, func(c *pgx.Conn) error {
		sts, err := prepareBatch(ctx, c, batch)
		if err != nil {
			return err
		}
		if len(batch) > 1 {
			if ok, err := runBatchTx(ctx, c, batch, sts); ok || err != nil {
				return err
			}
		}
		return runBatch(ctx, c, batch, sts)
	})
	if err != nil {
		for _, op := range batch {
			if !op.ran {
				op.err = cmp.Or(op.err, fmt.Errorf("eventstore: append to %q (if it committed, retrying with the same event ids is safe): %w", op.in.Stream, err))
			}
		}
	}
	g.committedOrDone(batch)
	return true
}

// take removes the next batch from the queue: appends in arrival order,
// each stream once, within the batch limits; appends whose caller gave
// up are answered without running.
func (g *group) take() []*groupOp {
	g.mu.Lock()
	defer g.mu.Unlock()
	var batch, rest []*groupOp
	streams := make(map[string]struct{}, len(g.queue))
	size := 0
	for _, op := range g.queue {
		if err := op.ctx.Err(); err != nil {
			op.err = err
			close(op.done)
			continue
		}
		_, dup := streams[op.in.Stream]
		n := opBytes(op)
		if dup || len(batch) == groupMaxOps || len(batch) > 0 && size+n > groupMaxBytes {
			rest = append(rest, op)
			continue
		}
		streams[op.in.Stream] = struct{}{}
		size += n
		batch = append(batch, op)
	}
	g.queue = rest
	return batch
}

func opBytes(op *groupOp) int {
	n := len(op.in.Stream)
	for i := range op.in.IDs {
		n += len(op.in.IDs[i]) + len(op.in.Types[i]) + len(op.in.Headers[i]) + len(op.in.Data[i])
	}
	return n
}

// committedOrDone hands a run batch on: appends that wrote wait for a
// flush (the flusher starts if it is not running); the others (an error,
// or nothing written: the caller takes the general path) are done.
func (g *group) committedOrDone(batch []*groupOp) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, op := range batch {
		if op.err != nil || !op.out.Wrote {
			close(op.done)
			continue
		}
		g.committed = append(g.committed, op)
	}
	if len(g.committed) == 0 {
		return
	}
	if !g.flushing {
		g.flushing = true
		go g.flush()
	} else {
		signal(g.wakeFlusher)
	}
}

// flush is the flusher goroutine: each round makes durable every append
// committed before it started; it ends when none has come for
// groupLinger.
func (g *group) flush() {
	g.serve(&g.flushing, g.wakeFlusher, func() bool { return len(g.committed) > 0 }, g.flushRound)
}

// flushRound flushes the appends committed so far, if any.
func (g *group) flushRound(h *heldConn) bool {
	g.mu.Lock()
	ops := g.committed
	g.committed = nil
	g.mu.Unlock()
	if len(ops) == 0 {
		return false
	}
	var lsn string
	err := h.raw(context.Background(), func(c *pgx.Conn) error {
		var err error
		lsn, err = runFlush(context.Background(), c, g.st.flush)
		return err
	})
	if err == nil && lsn == "" {
		err = errors.New("no flush position")
	}
	for _, op := range ops {
		if err != nil {
			op.err = fmt.Errorf("eventstore: append to %q: %w: %w", op.in.Stream, errNotDurable, err)
		}
		op.out.flushLSN = lsn
		close(op.done)
	}
	return true
}

// batchLockTimeout bounds how long a statement of runBatchTx waits for a
// lock. A batch's first append takes the head row, and the transaction
// holds it while its later appends lock their streams' rows: against the
// order every other append keeps (streams first, then the head). An
// append elsewhere that holds one of those streams and then waits for the
// head would deadlock with the batch, and PostgreSQL's deadlock check
// (after deadlock_timeout, 1 s by default) could fail that other append.
// The batch gives up first instead, rolls back and runs again append by
// append, each in its own transaction in the usual order.
var batchLockTimeout = newStmt(`SELECT set_config('lock_timeout', '100ms', true)`)

// runBatchTx runs the batch's one-statement appends in one implicit
// transaction (one pipeline Sync after them all), in one round trip on
// c: one commit for the batch instead of one each. If a statement fails
// (a value PostgreSQL refuses, a unique violation from a concurrent
// NoStream append, a lock wait longer than batchLockTimeout), the whole
// transaction rolls back and runBatchTx
// returns false with no error: nothing was written, and the batch must
// run again with runBatch, which gives each append its own transaction
// and its own answer. The error is the connection's.
func runBatchTx(ctx context.Context, c *pgx.Conn, batch []*groupOp, sts []prepared) (bool, error) {
	for _, op := range batch {
		if op.err != nil {
			return false, nil
		}
	}
	lsd, err := c.Prepare(ctx, batchLockTimeout.name, batchLockTimeout.sql)
	if err != nil {
		return false, errors.Join(err, driver.ErrBadConn)
	}
	p := c.PgConn().StartPipeline(ctx)
	p.SendQueryStatement(lsd, nil, nil, nil)
	for _, st := range sts {
		p.SendQueryStatement(st.sd, st.params, binaryParams[:len(st.params)], nil)
	}
	p.SendPipelineSync()
	err = p.Flush()
	failed, i := false, -1 // the lock timeout's result first
	for err == nil {
		var r any
		r, err = nextResult(p)
		if _, sync := r.(*pgconn.PipelineSync); sync {
			break
		}
		if r, ok := r.(*pgconn.ResultReader); ok {
			if i >= 0 && i < len(batch) {
				err = readKnown(r, &batch[i].out)
			} else {
				_, err = r.Close()
			}
			i++
		}
		if statementErr(err) != nil {
			failed, err = true, nil
		}
	}
	if err = errors.Join(err, p.Close()); err != nil {
		return false, errors.Join(err, driver.ErrBadConn)
	}
	if failed || i != len(batch) {
		for _, op := range batch {
			op.out = appended{}
		}
		return false, nil
	}
	for _, op := range batch {
		op.ran = true
	}
	return true, nil
}

// runBatch runs each op's one-statement append in its own implicit
// transaction (a pipeline Sync after each), in one round trip on c, and
// sets each op's result: what it wrote, or its statement's error. A
// unique violation (a concurrent append created the stream first,
// knownNoStream) is "wrote nothing", like a failed expectation. The
// returned error is the connection's (with driver.ErrBadConn, so that
// database/sql drops the connection): the ops without a result get it.
func runBatch(ctx context.Context, c *pgx.Conn, batch []*groupOp, sts []prepared) error {
	p := c.PgConn().StartPipeline(ctx)
	for i, op := range batch {
		if op.err == nil {
			p.SendQueryStatement(sts[i].sd, sts[i].params, binaryParams[:len(sts[i].params)], nil)
		}
		p.SendPipelineSync()
	}
	// Results come in order: each append's, then its Sync (its commit). A
	// statement's error (a *pgconn.PgError) skips to its Sync, which rolls
	// its transaction back; any other error is the connection's.
	err := p.Flush()
	for i := 0; err == nil && i < len(batch); {
		var r any
		r, err = nextResult(p)
		switch r := r.(type) {
		case *pgconn.ResultReader:
			err = readKnown(r, &batch[i].out)
		case *pgconn.PipelineSync:
			batch[i].ran = true
			i++
		}
		if pgErr := statementErr(err); pgErr != nil {
			if pgErr.Code != uniqueViolation {
				batch[i].err = cmp.Or(batch[i].err, fmt.Errorf("eventstore: append to %q: %w", batch[i].in.Stream, err))
			}
			batch[i].out.Wrote = false
			err = nil
		}
	}
	if err = errors.Join(err, p.Close()); err != nil {
		return errors.Join(err, driver.ErrBadConn)
	}
	return nil
}

// prepared is an append's statement, prepared on the connection, and its
// parameters.
type prepared struct {
	sd     *pgconn.StatementDescription
	params [][]byte
}

// prepareBatch prepares the batch's statements on c (once per
// connection: pgx keeps them) and encodes their parameters. An append
// whose parameters do not encode gets the error and is left out of the
// batch's statements; an error preparing is the connection's.
func prepareBatch(ctx context.Context, c *pgx.Conn, batch []*groupOp) ([]prepared, error) {
	sts := make([]prepared, len(batch))
	for i, op := range batch {
		sd, err := c.Prepare(ctx, op.q.name, op.q.sql)
		if err != nil {
			return nil, errors.Join(err, driver.ErrBadConn)
		}
		sts[i].sd = sd
		if sts[i].params, err = encodeKnown(sd.ParamOIDs, op.at, op.in); err != nil {
			op.err = fmt.Errorf("eventstore: append to %q: %w", op.in.Stream, err)
		}
	}
	return sts, nil
}

// nextResult is the pipeline's next result; a pipeline that ends before
// it is an error.
func nextResult(p *pgconn.Pipeline) (any, error) {
	r, err := p.GetResults()
	if r == nil && err == nil {
		err = errors.New("the pipeline ended before its results")
	}
	return r, err
}

// statementErr is err if a statement failed (PostgreSQL answered with an
// error: the statement's transaction rolls back at its Sync, and the
// connection is fine), else nil.
func statementErr(err error) *pgconn.PgError {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr
	}
	return nil
}

// runFlush runs the flush statement (fl) on c and returns the WAL
// position of its record; errors are the connection's (with
// driver.ErrBadConn, so that database/sql drops it).
func runFlush(ctx context.Context, c *pgx.Conn, fl stmt) (string, error) {
	sd, err := c.Prepare(ctx, fl.name, fl.sql)
	if err != nil {
		return "", errors.Join(err, driver.ErrBadConn)
	}
	r := c.PgConn().ExecStatement(ctx, sd, nil, nil, nil)
	var lsn string
	if r.NextRow() {
		lsn = string(r.Values()[0])
	}
	if _, err := r.Close(); err != nil {
		return "", errors.Join(err, driver.ErrBadConn)
	}
	return lsn, nil
}

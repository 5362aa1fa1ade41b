package shop

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"
)

// The services open SQLite through "sqlite-gated", modernc's driver with
// one addition: the transactions of one database file, in this process,
// take turns on a Go semaphore (its gate) from BeginTx to Commit or
// Rollback.
//
// Why: every transaction here begins IMMEDIATE (it takes SQLite's write
// lock at once, as the saga store asks), and a connection that finds the
// lock taken sleeps in SQLite's busy handler, 1, 2, 5, ... up to 100 ms a
// try. Under a steady load of short transactions from many goroutines
// those sleeps, not the work, set the pace: a waiter wakes after the lock
// was taken and released several times. Queueing on the gate instead
// hands the lock over as soon as it is free. A transaction begun with a
// BEGIN statement (the SQLite outbox's claims) takes the gate too, until
// its COMMIT or ROLLBACK. Other statements outside a transaction, and
// other processes, still wait in the busy handler.
//
// A goroutine must not begin a second transaction on a database while it
// holds one there (it would wait for itself); the SDK's stores do not.
//
// Each connection also keeps its prepared statements by query text (up to
// maxStmts), as SQLite's parser is a good part of the cost of the small
// statements the stores run.
const gatedDriverName = "sqlite-gated"

func init() { sql.Register(gatedDriverName, &gatedDriver{}) }

type gatedDriver struct {
	d     sqlite.Driver
	gates sync.Map // DSN → chan struct{} (capacity 1)
}

func (g *gatedDriver) Open(name string) (driver.Conn, error) {
	c, err := g.d.Open(name)
	if err != nil {
		return nil, err
	}
	gate, _ := g.gates.LoadOrStore(name, make(chan struct{}, 1))
	return &gatedConn{Conn: c, gate: gate.(chan struct{}), stmts: map[string]*cachedStmt{}}, nil
}

// maxStmts bounds the statements a connection keeps prepared.
const maxStmts = 256

// gatedConn forwards everything to modernc's connection; only BeginTx
// differs.
//
// database/sql uses a connection from one goroutine at a time, so stmts
// needs no lock.
type gatedConn struct {
	driver.Conn
	gate  chan struct{}
	stmts map[string]*cachedStmt
	inRaw bool // holds the gate for a transaction begun with BEGIN
}

// cachedStmt is a prepared statement; busy while its rows are open, when
// the query runs unprepared instead (SQLite cannot run one statement
// twice at once).
type cachedStmt struct {
	s    driver.Stmt
	busy atomic.Bool
}

// stmt returns q's prepared statement if it can be used now.
func (c *gatedConn) stmt(ctx context.Context, q string) (*cachedStmt, bool) {
	if cs, ok := c.stmts[q]; ok {
		return cs, !cs.busy.Load()
	}
	p, ok := c.Conn.(driver.ConnPrepareContext)
	if !ok || len(c.stmts) >= maxStmts {
		return nil, false
	}
	s, err := p.PrepareContext(ctx, q)
	if err != nil {
		return nil, false
	}
	cs := &cachedStmt{s: s}
	c.stmts[q] = cs
	return cs, true
}

// Close closes the prepared statements and the connection.
func (c *gatedConn) Close() error {
	if c.inRaw {
		c.inRaw = false
		<-c.gate
	}
	var errs []error
	for _, cs := range c.stmts {
		errs = append(errs, cs.s.Close())
	}
	return errors.Join(append(errs, c.Conn.Close())...)
}

var errNoCtx = errors.New("sqlite-gated: the driver's connection lacks a context method")

func (c *gatedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	select {
	case c.gate <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	b, ok := c.Conn.(driver.ConnBeginTx)
	if !ok {
		<-c.gate
		return nil, errNoCtx
	}
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		<-c.gate
		return nil, err
	}
	return &gatedTx{Tx: tx, gate: c.gate}, nil
}

func (c *gatedConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	switch word := firstWord(q); {
	case word == "BEGIN" && !c.inRaw:
		select {
		case c.gate <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		res, err := c.exec(ctx, q, args)
		if err != nil {
			<-c.gate
		} else {
			c.inRaw = true
		}
		return res, err
	case (word == "COMMIT" || word == "ROLLBACK" || word == "END") && c.inRaw:
		res, err := c.exec(ctx, q, args)
		if err == nil || word != "COMMIT" { // a failed COMMIT leaves the transaction open
			c.inRaw = false
			<-c.gate
		}
		return res, err
	}
	return c.exec(ctx, q, args)
}

// firstWord is q's first word in upper case.
func firstWord(q string) string {
	q = strings.TrimSpace(q)
	if i := strings.IndexAny(q, " \t\n;"); i >= 0 {
		q = q[:i]
	}
	return strings.ToUpper(q)
}

func (c *gatedConn) exec(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	if cs, ok := c.stmt(ctx, q); ok {
		if e, ok := cs.s.(driver.StmtExecContext); ok {
			return e.ExecContext(ctx, args)
		}
	}
	if e, ok := c.Conn.(driver.ExecerContext); ok {
		return e.ExecContext(ctx, q, args)
	}
	return nil, driver.ErrSkip
}

func (c *gatedConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	if cs, ok := c.stmt(ctx, q); ok {
		if e, ok := cs.s.(driver.StmtQueryContext); ok {
			cs.busy.Store(true)
			rows, err := e.QueryContext(ctx, args)
			if err != nil {
				cs.busy.Store(false)
				return nil, err
			}
			return &stmtRows{Rows: rows, cs: cs}, nil
		}
	}
	if e, ok := c.Conn.(driver.QueryerContext); ok {
		return e.QueryContext(ctx, q, args)
	}
	return nil, driver.ErrSkip
}

func (c *gatedConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, q)
	}
	return c.Prepare(q)
}

func (c *gatedConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

type gatedTx struct {
	driver.Tx
	gate chan struct{}
	once sync.Once
}

func (t *gatedTx) release() { t.once.Do(func() { <-t.gate }) }

func (t *gatedTx) Commit() error {
	defer t.release()
	return t.Tx.Commit()
}

func (t *gatedTx) Rollback() error {
	defer t.release()
	return t.Tx.Rollback()
}

// stmtRows frees its statement when closed.
type stmtRows struct {
	driver.Rows
	cs   *cachedStmt
	once sync.Once
}

func (r *stmtRows) Close() error {
	defer r.once.Do(func() { r.cs.busy.Store(false) })
	return r.Rows.Close()
}

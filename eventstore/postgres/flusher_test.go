package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// pgxConn opens a pgx connection of its own to the test database.
func pgxConn(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), pubsubtest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// TestFlusherCovers: writers on their own connections commit
// asynchronously and wait on one flusher; when wait returns, the WAL is
// flushed past each writer's commit, and the flush it returns was
// written after it.
func TestFlusherCovers(t *testing.T) {
	ctx := context.Background()
	db, prefix := newDB(t)
	if _, err := db.ExecContext(ctx, `CREATE TABLE `+prefix+`_t (n INT)`); err != nil {
		t.Fatal(err)
	}
	f, fl := newFlusher(), newStatements(prefix).flush
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		c := pgxConn(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				var committed string
				if err := c.QueryRow(ctx, `WITH i AS (INSERT INTO `+prefix+`_t VALUES (1))
					SELECT set_config('synchronous_commit', 'off', true)`).Scan(&committed); err != nil {
					errs <- err
					return
				}
				if err := c.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&committed); err != nil {
					errs <- err
					return
				}
				lsn, err := f.wait(ctx, c, fl)
				if err != nil {
					errs <- err
					return
				}
				var ok bool
				err = c.QueryRow(ctx, `SELECT $1::pg_lsn > $2::pg_lsn AND pg_current_wal_flush_lsn() >= $2::pg_lsn`, lsn, committed).Scan(&ok)
				if err == nil && !ok {
					t.Errorf("flush %s returned to a commit before %s", lsn, committed)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestFlusherNeedsLaterFlush: a flush in flight when wait is called
// does not count (it may have been written before the caller's commit):
// wait runs the next one, even when the one in flight completes first.
func TestFlusherNeedsLaterFlush(t *testing.T) {
	ctx := context.Background()
	db, prefix := newDB(t)
	f, fl := newFlusher(), newStatements(prefix).flush
	f.mu.Lock()
	f.mu.running, f.mu.started = true, 1 // flush 1 is in flight
	f.mu.Unlock()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := make(chan string, 1)
	go func() {
		_ = conn.Raw(func(dc any) error {
			lsn, err := f.wait(ctx, dc.(*stdlib.Conn).Conn(), fl)
			if err != nil {
				t.Error(err)
			}
			got <- lsn
			return nil
		})
	}()
	select {
	case lsn := <-got:
		t.Fatalf("wait returned %q while the only flush was one started before it", lsn)
	case <-time.After(100 * time.Millisecond):
	}
	// Flush 1 completes, with a position no real flush has.
	f.mu.Lock()
	f.mu.running, f.mu.done, f.mu.lsn = false, 1, "0/0"
	close(f.mu.changed)
	f.mu.changed = make(chan struct{})
	f.mu.Unlock()
	if lsn := <-got; lsn == "0/0" || lsn == "" {
		t.Fatalf("wait returned flush 1 (%q), want a flush of its own", lsn)
	}
	if f.mu.done != 2 {
		t.Fatalf("%d flushes done, want 2", f.mu.done)
	}
}

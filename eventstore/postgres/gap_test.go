package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/eventstoretest"
	"github.com/heraldhq/herald/internal/testenv"
)

// TestNoSkippedPosition forces the interleaving that loses events with
// positions from a sequence: append A takes its position and stalls before
// its commit; append B starts after it. A reader then reads $all, keeps
// the last position it saw as its checkpoint, A commits, and the reader
// reads on from the checkpoint. It must have seen both events.
//
// The test runs against the naive store (positions from a sequence, read
// ORDER BY position), where B commits first with the higher position and
// the reader skips A for good, which proves the test can catch the bug;
// and against the real store on its paths: the general one (a store with
// hooks; A stalls in a hook) and the pipelined ones (no hooks; A stalls
// in a trigger on the events table), with the lock statement first (Any)
// and as one statement (NoStream). On all, B waits for A's commit on the
// head row and the reader sees A then B.
func TestNoSkippedPosition(t *testing.T) {
	for _, mode := range []string{"naive", "general", "pipelined", "one-statement"} {
		t.Run(mode, func(t *testing.T) {
			naive := mode == "naive"
			seen := interleave(t, mode)
			if naive && seen != 1 {
				t.Fatalf("the naive store's reader saw %d of 2 events: the test did not reproduce the skip", seen)
			}
			if !naive && seen != 2 {
				t.Fatalf("the reader saw %d of 2 events: an event committed below its checkpoint", seen)
			}
		})
	}
}

// interleave runs the scenario and returns how many events the
// checkpointing reader saw.
func interleave(t *testing.T, mode string) int {
	ctx := context.Background()
	db, prefix := newDB(t)
	aIn := make(chan int, 1) // A's backend pid, once A has its position
	waitA := func() int { return <-aIn }
	release := make(chan struct{})
	var cfg Config
	exp := eventstore.Any
	if mode == "one-statement" {
		exp = eventstore.NoStream
	}
	if mode == "pipelined" || mode == "one-statement" {
		waitA = stallInTrigger(t, db, prefix, release)
	} else {
		cfg.Hooks = []eventstore.TxHook{func(ctx context.Context, tx *sql.Tx, recs []eventstore.Recorded) error {
			if recs[0].Stream != "slow" {
				return nil
			}
			var pid int
			if err := tx.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				return err
			}
			aIn <- pid
			<-release
			return nil
		}}
	}
	cfg.Prefix = prefix
	// A and B append through two Store values, as two processes would:
	// one Store would put both appends in one transaction.
	sA, err := newStore(ctx, db, cfg, mode == "naive")
	if err != nil {
		t.Fatal(err)
	}
	s, err := newStore(ctx, db, cfg, mode == "naive")
	if err != nil {
		t.Fatal(err)
	}
	aDone, bDone := make(chan error, 1), make(chan error, 1)
	go func() { _, err := sA.Append(ctx, "slow", exp, eventstoretest.Event("a", "")); aDone <- err }()
	pidA := waitA()
	go func() { _, err := s.Append(ctx, "fast", exp, eventstoretest.Event("b", "")); bDone <- err }()
	// Wait until B has committed or is blocked by A.
	testenv.CheckFor(t, 10*time.Second, func() error {
		if len(bDone) > 0 {
			return nil
		}
		if err := blockedBy(db, pidA); err != nil {
			return fmt.Errorf("B has neither committed nor waited: %w", err)
		}
		return nil
	})
	first, err := s.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkpoint := int64(0)
	if len(first) > 0 {
		checkpoint = first[len(first)-1].Position
	}
	close(release)
	if err := errors.Join(<-aDone, <-bDone); err != nil {
		t.Fatal(err)
	}
	rest, err := s.ReadAll(ctx, checkpoint, 0)
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.ReadAll(ctx, 0, 0)
	if err != nil || len(all) != 2 {
		t.Fatalf("$all holds %d events (%v), want 2", len(all), err)
	}
	if all[0].Stream != "slow" || all[1].Stream != "fast" {
		t.Fatalf("$all holds %s then %s, want slow then fast", all[0].Stream, all[1].Stream)
	}
	return len(first) + len(rest)
}

// stallInTrigger makes an insert into the events table of stream "slow"
// wait, in a row trigger, for an advisory lock that a connection of the
// test holds until release is closed. It returns a function that waits for
// the stalled backend and returns its pid.
func stallInTrigger(t *testing.T, db *sql.DB, prefix string, release <-chan struct{}) func() int {
	t.Helper()
	ctx := context.Background()
	// The advisory lock's key; the schema is the test's own.
	const key = 7264
	// The tables, then the trigger on the events table.
	if _, err := New(ctx, db, Config{Prefix: prefix}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE FUNCTION ` + prefix + `_stall() RETURNS trigger LANGUAGE plpgsql AS $fn$
		BEGIN
			IF NEW.stream = 'slow' THEN PERFORM pg_advisory_xact_lock(` + strconv.Itoa(key) + `); END IF;
			RETURN NEW;
		END $fn$`,
		`CREATE TRIGGER stall AFTER INSERT ON ` + prefix + ` FOR EACH ROW EXECUTE FUNCTION ` + prefix + `_stall()`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	holder, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		t.Fatal(err)
	}
	var holderPID int
	if err := holder.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&holderPID); err != nil {
		t.Fatal(err)
	}
	go func() {
		<-release
		_, err := holder.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, key)
		holder.Close()
		if err != nil {
			t.Error(err)
		}
	}()
	return func() int {
		// A is the backend that waits for the holder.
		var pid int
		testenv.CheckFor(t, 10*time.Second, func() error {
			return db.QueryRow(`SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, holderPID).Scan(&pid)
		})
		return pid
	}
}

// blockedBy reports an error unless a session waits for a lock that the
// backend pid holds.
func blockedBy(db *sql.DB, pid int) error {
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pid).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("no session waits for backend %d", pid)
	}
	return nil
}

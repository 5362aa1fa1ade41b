package postgres

import (
	"context"
	"database/sql"
	"errors"
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
// The test runs twice: against the naive store (positions from a sequence,
// read ORDER BY position), where B commits first with the higher position
// and the reader skips A for good, which proves the test can catch the bug;
// and against the real store in both of its modes: positions in the
// append (B waits for A's commit on the head row; the reader sees A then
// B) and positions after the commit (B commits and is numbered first, A
// gets the next position when it commits; the reader sees B then A).
func TestNoSkippedPosition(t *testing.T) {
	for _, mode := range []string{"naive", "headlock", "sequencer"} {
		t.Run(mode, func(t *testing.T) {
			naive := mode == "naive"
			seen := interleave(t, naive, mode == "sequencer")
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
func interleave(t *testing.T, naive, sequencer bool) int {
	ctx := context.Background()
	db, prefix := newDB(t)
	aIn := make(chan int, 1) // A's backend pid, once A has its position
	release := make(chan struct{})
	hook := func(ctx context.Context, tx *sql.Tx, recs []eventstore.Recorded) error {
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
	}
	// A and B append through two Store values, as two processes would:
	// one Store would put both appends in one transaction.
	sA, err := newStore(ctx, db, Config{Prefix: prefix, Hooks: []eventstore.TxHook{hook}}, naive, sequencer)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newStore(ctx, db, Config{Prefix: prefix, Hooks: []eventstore.TxHook{hook}}, naive, sequencer)
	if err != nil {
		t.Fatal(err)
	}
	aDone, bDone := make(chan error, 1), make(chan error, 1)
	go func() { _, err := sA.Append(ctx, "slow", eventstore.Any, eventstoretest.Event("a", "")); aDone <- err }()
	pidA := <-aIn
	go func() { _, err := s.Append(ctx, "fast", eventstore.Any, eventstoretest.Event("b", "")); bDone <- err }()
	// Wait until B has committed or is blocked by A.
	testenv.CheckFor(t, 10*time.Second, func() error {
		if len(bDone) > 0 {
			return nil
		}
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pidA).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return errors.New("B has neither committed nor waited for A")
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
	t.Logf("first read %d event(s), checkpoint %d, then %d more", len(first), checkpoint, len(rest))
	return len(first) + len(rest)
}

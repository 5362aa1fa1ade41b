package postgres

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/eventstoretest"
	"github.com/heraldhq/herald/internal/testenv"
)

// TestKnownExpectationWaits forces the race that the one-statement
// appends (exact, NoStream, StreamExists) must get right: append A has
// moved the stream and stalls before its commit (in a hook, so on the
// general path); append B, on the fast path of another Store, started
// after A and waits for the stream's row. When A commits, B must see A's
// append: with A's event id, B is a repeat and returns A's result
// without writing a second copy; with another id, B is a conflict
// (exact, NoStream) or appends after A (StreamExists).
func TestKnownExpectationWaits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing bool                       // the stream has one event before A
		a, b     eventstore.ExpectedVersion // A's and B's expectations
		sameID   bool
		conflict bool  // B gets a conflict
		version  int64 // else B's first version
	}{
		{"exact/repeat", true, eventstore.Exact(0), eventstore.Exact(0), true, false, 1},
		{"exact/other", true, eventstore.Exact(0), eventstore.Exact(0), false, true, 0},
		{"exists/repeat", true, eventstore.StreamExists, eventstore.StreamExists, true, false, 1},
		{"exists/other", true, eventstore.StreamExists, eventstore.StreamExists, false, false, 2},
		{"nostream/repeat", false, eventstore.NoStream, eventstore.NoStream, true, false, 0},
		{"nostream/other", false, eventstore.NoStream, eventstore.NoStream, false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, prefix := newDB(t)
			aIn, release := make(chan int, 1), make(chan struct{})
			hook := func(ctx context.Context, tx *sql.Tx, _ []eventstore.Recorded) error {
				var pid int
				if err := tx.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
					return err
				}
				aIn <- pid
				<-release
				return nil
			}
			sA, err := New(ctx, db, Config{Prefix: prefix, Hooks: []eventstore.TxHook{hook}})
			if err != nil {
				t.Fatal(err)
			}
			sB, err := New(ctx, db, Config{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			if tc.existing {
				if _, err := sB.Append(ctx, "r", eventstore.NoStream, eventstoretest.Event("x", "0")); err != nil {
					t.Fatal(err)
				}
			}
			evA := eventstoretest.Event("x", "a")
			evB := evA
			if !tc.sameID {
				evB = eventstoretest.Event("x", "b")
			}
			type result struct {
				res eventstore.AppendResult
				err error
			}
			aDone, bDone := make(chan result, 1), make(chan result, 1)
			go func() { r, err := sA.Append(ctx, "r", tc.a, evA); aDone <- result{r, err} }()
			pidA := <-aIn
			go func() { r, err := sB.Append(ctx, "r", tc.b, evB); bDone <- result{r, err} }()
			testenv.CheckFor(t, 10*time.Second, func() error { return blockedBy(db, pidA) })
			close(release)
			a, b := <-aDone, <-bDone
			if a.err != nil {
				t.Fatalf("A: %v", a.err)
			}
			checkB(t, tc.conflict, tc.sameID, tc.version, a.res, b.res, b.err)
			want := []event.Event{evA}
			if !tc.sameID && !tc.conflict {
				want = append(want, evB)
			}
			checkStream(t, sB, "r", tc.existing, want)
		})
	}
}

func checkB(t *testing.T, conflict, repeat bool, version int64, a, b eventstore.AppendResult, err error) {
	t.Helper()
	var ce *eventstore.ConflictError
	switch {
	case conflict:
		if !errors.As(err, &ce) || ce.Actual != a.LastVersion {
			t.Fatalf("B: %+v, %v; want a conflict with actual version %d", b, err, a.LastVersion)
		}
	case err != nil:
		t.Fatalf("B: %v", err)
	case repeat && (!b.Duplicate || b.FirstVersion != a.FirstVersion || b.FirstPosition != a.FirstPosition):
		t.Fatalf("B: %+v, want A's result %+v as a repeat", b, a)
	case !repeat && (b.Duplicate || b.FirstVersion != version || b.FirstPosition != a.LastPosition+1):
		t.Fatalf("B: %+v, want version %d at position %d", b, version, a.LastPosition+1)
	}
}

// checkStream: the stream holds want after its first event (if it had
// one), once each.
func checkStream(t *testing.T, s eventstore.Store, stream string, existing bool, want []event.Event) {
	t.Helper()
	recs, err := s.ReadStream(context.Background(), stream, eventstore.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if existing {
		recs = recs[1:]
	}
	if len(recs) != len(want) {
		t.Fatalf("the stream holds %d events after A's, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if r.ID != want[i].ID {
			t.Fatalf("event %d is %s, want %s", i, r.ID, want[i].ID)
		}
	}
}

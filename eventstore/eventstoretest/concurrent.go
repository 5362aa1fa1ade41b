package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/eventstore"
)

// Writers, streams and appends per writer of the concurrency test.
const (
	concWriters = 8
	concStreams = 3
	concAppends = 25
)

// testConcurrent runs 8 writers that append to 3 shared streams with the
// version they last read as the expectation, while a reader follows $all
// by position. Each stream version must be won by exactly one writer, and
// the reader must see every committed event exactly once, in position
// order: an event that committed below the reader's checkpoint after the
// reader passed it would be missing at the end.
func testConcurrent(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	var (
		mu   sync.Mutex
		won  = map[string]string{} // "stream/version" -> event id
		done atomic.Bool
		wg   sync.WaitGroup
		errs = make(chan error, concWriters+1)
	)
	for w := range concWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- writer(ctx, s, w, func(stream string, v int64, id string) error {
				mu.Lock()
				defer mu.Unlock()
				k := stream + "/" + strconv.FormatInt(v, 10)
				if prev, ok := won[k]; ok {
					return fmt.Errorf("%s won twice: by %s and by %s", k, prev, id)
				}
				won[k] = id
				return nil
			})
		}()
	}
	seen := make(chan []eventstore.Recorded, 1)
	go func() {
		recs, err := follow(ctx, s, &done)
		errs <- err
		seen <- recs
	}()
	wg.Wait()
	done.Store(true)
	recs := <-seen
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkSeen(t, s, won, recs)
}

// writer appends concAppends single events, each to one of the shared
// streams with the version it just read as the expectation; it reports
// each win to record.
func writer(ctx context.Context, s eventstore.Store, w int, record func(string, int64, string) error) error {
	for i := range concAppends {
		stream := "conc-" + strconv.Itoa((w+i)%concStreams)
		info, err := s.Stream(ctx, stream)
		if err != nil {
			return err
		}
		e := Event("x", fmt.Sprintf("w%d-%d", w, i))
		res, err := s.Append(ctx, stream, expectation(info.Version), e)
		var ce *eventstore.ConflictError
		if errors.As(err, &ce) {
			if ce.Actual <= info.Version {
				return fmt.Errorf("conflict on %s with actual %d, not past the %d read", stream, ce.Actual, info.Version)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("writer %d: %w", w, err)
		}
		if err := record(stream, res.FirstVersion, e.ID); err != nil {
			return err
		}
	}
	return nil
}

func expectation(v int64) eventstore.ExpectedVersion {
	if v == eventstore.NoVersion {
		return eventstore.NoStream
	}
	return eventstore.Exact(v)
}

// follow reads $all by position until done is set and one more read finds
// nothing new; positions must only go up.
func follow(ctx context.Context, s eventstore.Store, done *atomic.Bool) ([]eventstore.Recorded, error) {
	var out []eventstore.Recorded
	after := int64(0)
	for {
		last := done.Load()
		recs, err := s.ReadAll(ctx, after, 50)
		if err != nil {
			return out, err
		}
		for _, r := range recs {
			if r.Position <= after {
				return out, fmt.Errorf("$all went back: position %d after %d", r.Position, after)
			}
			after = r.Position
		}
		out = append(out, recs...)
		if len(recs) == 0 {
			if last {
				return out, nil
			}
			idle(ctx, s)
		}
	}
}

// idle waits for the store's next commit, or briefly if it cannot tell.
func idle(ctx context.Context, s eventstore.Store) {
	var wake <-chan struct{}
	if n, ok := s.(eventstore.Notifier); ok {
		wake = n.Notify()
	}
	t := time.NewTimer(2 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}

func checkSeen(t *testing.T, s eventstore.Store, won map[string]string, recs []eventstore.Recorded) {
	t.Helper()
	ids := map[string]bool{}
	for _, r := range recs {
		k := r.Stream + "/" + strconv.FormatInt(r.Version, 10)
		if won[k] != r.ID {
			t.Fatalf("reader saw %s as %s, the winner was %q", k, r.ID, won[k])
		}
		if ids[r.ID] {
			t.Fatalf("reader saw %s twice", r.ID)
		}
		ids[r.ID] = true
	}
	if len(recs) != len(won) {
		t.Fatalf("the $all reader saw %d events, %d were appended: it skipped %d", len(recs), len(won), len(won)-len(recs))
	}
	for st := range concStreams {
		stream := "conc-" + strconv.Itoa(st)
		got := read(t, s, stream, eventstore.ReadOptions{})
		for i, r := range got {
			if r.Version != int64(i) || won[stream+"/"+strconv.Itoa(i)] != r.ID {
				t.Fatalf("%s: event %d is version %d id %s", stream, i, r.Version, r.ID)
			}
		}
	}
	if len(won) < concWriters {
		t.Fatalf("only %d appends won", len(won))
	}
}

package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/eventstoretest"
	"github.com/heraldhq/herald/eventstore/internal/sqlstore"
)

// TestFastAppend runs the fast path's statements directly, in order, on
// one store's tables: each append it can take must write (versions and
// positions as the general path gives them), and each it cannot must
// write nothing and send the append to the general path. A fast path
// that turned every append away would pass the conformance suite, only
// slower; this test fails on it.
func TestFastAppend(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := New(ctx, db, Config{})
	if err != nil {
		t.Fatal(err)
	}
	// "old" has events 0 and 1 and "dead" is a tombstone, both written
	// by the store's own appends.
	two := []event.Event{eventstoretest.Event("t", "{}"), eventstoretest.Event("t", "{}")}
	if _, err := s.Append(ctx, "old", eventstore.NoStream, two...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "dead", eventstore.NoStream, eventstoretest.Event("t", "{}")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "dead", true); err != nil {
		t.Fatal(err)
	}
	fast := fastAppend("herald_events")
	for _, tc := range []struct {
		name     string
		stream   string
		expected eventstore.ExpectedVersion
		ids      []string
		version  int64 // the stream's version before the append; -9: ErrSlowPath
	}{
		{"new stream, NoStream", "a", eventstore.NoStream, []string{"a0"}, -1},
		{"exact", "a", eventstore.Exact(0), []string{"a1"}, 0},
		{"any", "a", eventstore.Any, []string{"a2"}, 1},
		{"stream exists", "a", eventstore.StreamExists, []string{"a3"}, 2},
		{"new stream, Any", "b", eventstore.Any, []string{"b0"}, -1},
		{"stale exact", "a", eventstore.Exact(2), []string{"a4"}, -9},
		{"exact ahead", "a", eventstore.Exact(4), []string{"a4"}, -9},
		{"NoStream on a stream", "a", eventstore.NoStream, []string{"a4"}, -9},
		{"new stream, StreamExists", "c", eventstore.StreamExists, []string{"c0"}, -9},
		{"new stream, exact", "c", eventstore.Exact(0), []string{"c0"}, -9},
		{"repeated id, expectation passes", "a", eventstore.Exact(3), []string{"a1"}, -9},
		{"repeated id, Any", "a", eventstore.Any, []string{"a3"}, -9},
		{"two events", "a", eventstore.Exact(3), []string{"a4", "a5"}, -9},
		{"tombstone", "dead", eventstore.Any, []string{"d1"}, -9},
		{"written by the general path", "old", eventstore.Exact(1), []string{"o2"}, 1},
	} {
		head, err := s.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		in := sqlstore.FastAppend{Stream: tc.stream, Expected: int64(tc.expected), IDs: tc.ids, Recorded: 1}
		for range tc.ids {
			in.Types, in.Headers, in.Data = append(in.Types, "t"), append(in.Headers, ""), append(in.Data, []byte("{}"))
		}
		out, err := fast(ctx, db, in)
		after, herr := s.Head(ctx)
		if herr != nil {
			t.Fatal(herr)
		}
		if tc.version == -9 {
			if !errors.Is(err, sqlstore.ErrSlowPath) || out.Wrote || after != head {
				t.Errorf("%s: got %+v, %v, head %d -> %d; want ErrSlowPath and nothing written", tc.name, out, err, head, after)
			}
			continue
		}
		if err != nil || !out.Wrote || out.Version != tc.version || out.LastPosition != head+1 || after != head+1 {
			t.Errorf("%s: got %+v, %v, head %d -> %d; want version %d written at %d", tc.name, out, err, head, after, tc.version, head+1)
		}
		info, err := s.Stream(ctx, tc.stream)
		if err != nil || info.Version != tc.version+1 {
			t.Errorf("%s: stream info %+v, %v; want version %d", tc.name, info, err, tc.version+1)
		}
	}
}

// Package eventstoretest is the conformance suite for eventstore.Store
// backends. A backend's test calls Run with a function that returns a new,
// empty store:
//
//	func TestConformance(t *testing.T) {
//		eventstoretest.Run(t, func(t *testing.T) eventstore.Store { return newStore(t) })
//	}
package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
)

// Run runs every conformance test against stores from newStore, each test
// on a store of its own.
func Run(t *testing.T, newStore func(t *testing.T) eventstore.Store) {
	tests := []struct {
		name string
		f    func(*testing.T, eventstore.Store)
	}{
		{"AppendRead", testAppendRead},
		{"ExpectedVersion", testExpected},
		{"Idempotent", testIdempotent},
		{"MultiStream", testMulti},
		{"ReadAll", testReadAll},
		{"Temporal", testTemporal},
		{"Meta", testMeta},
		{"MetaInAll", testMetaInAll},
		{"HiddenInAll", testHiddenInAll},
		{"Delete", testDelete},
		{"Snapshots", testSnapshots},
		{"BadInput", testBadInput},
		{"Subscribe", testSubscribe},
		{"Aggregate", testAggregate},
		{"Upcast", testUpcast},
		{"ConcurrentWriters", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, newStore(t)) })
	}
}

// Event returns a test event of type typ with data.
func Event(typ, data string) event.Event {
	e := event.New("/eventstoretest", typ, []byte(data))
	e.DataContentType = "text/plain"
	return e
}

func events(n int, typ string) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		out[i] = Event(typ, strconv.Itoa(i))
	}
	return out
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, exp eventstore.ExpectedVersion, evs ...event.Event) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(context.Background(), stream, exp, evs...)
	if err != nil {
		t.Fatalf("append %d to %s (expected %v): %v", len(evs), stream, exp, err)
	}
	return res
}

func read(t *testing.T, s eventstore.Store, stream string, o eventstore.ReadOptions) []eventstore.Recorded {
	t.Helper()
	recs, err := s.ReadStream(context.Background(), stream, o)
	if err != nil {
		t.Fatalf("read %s %+v: %v", stream, o, err)
	}
	return recs
}

func versions(recs []eventstore.Recorded) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.Version
	}
	return out
}

func wantVersions(t *testing.T, recs []eventstore.Recorded, want ...int64) {
	t.Helper()
	got := versions(recs)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("versions %v, want %v", got, want)
	}
}

func testAppendRead(t *testing.T, s eventstore.Store) {
	e0 := Event("order.placed", `{"n":1}`)
	e0.Subject, e0.CorrelationID, e0.SchemaVersion = "order-1", "corr-1", "2"
	e0 = e0.WithExtension("tenant", "acme")
	res := mustAppend(t, s, "order-1", eventstore.NoStream, e0, Event("order.paid", "p"))
	if res.FirstVersion != 0 || res.LastVersion != 1 || res.FirstPosition < 1 || res.LastPosition != res.FirstPosition+1 {
		t.Fatalf("first append: %+v", res)
	}
	res2 := mustAppend(t, s, "order-1", eventstore.Exact(1), Event("order.shipped", "s"))
	if res2.FirstVersion != 2 || res2.FirstPosition <= res.LastPosition {
		t.Fatalf("second append: %+v after %+v", res2, res)
	}
	recs := read(t, s, "order-1", eventstore.ReadOptions{})
	wantVersions(t, recs, 0, 1, 2)
	got := recs[0]
	if got.ID != e0.ID || got.Type != e0.Type || got.Source != e0.Source || string(got.Data) != `{"n":1}` ||
		got.Subject != "order-1" || got.CorrelationID != "corr-1" || got.SchemaVersion != "2" ||
		got.Extensions["tenant"] != "acme" || !got.Time.Equal(e0.Time) || got.Stream != "order-1" || got.Key != "order-1" {
		t.Fatalf("read back %+v, appended %+v", got, e0)
	}
	if got.Recorded.IsZero() || time.Since(got.Recorded) > time.Minute {
		t.Fatalf("recorded at %v", got.Recorded)
	}
	wantVersions(t, read(t, s, "order-1", eventstore.ReadOptions{From: 1}), 1, 2)
	wantVersions(t, read(t, s, "order-1", eventstore.ReadOptions{From: 0, Max: 2}), 0, 1)
	wantVersions(t, read(t, s, "order-1", eventstore.ReadOptions{From: -1, Direction: eventstore.Backward}), 2, 1, 0)
	wantVersions(t, read(t, s, "order-1", eventstore.ReadOptions{From: 1, Direction: eventstore.Backward}), 1, 0)
	wantVersions(t, read(t, s, "order-1", eventstore.ReadOptions{From: -1, Direction: eventstore.Backward, Max: 1}), 2)
	wantVersions(t, read(t, s, "nothing-here", eventstore.ReadOptions{}))
	info, err := s.Stream(context.Background(), "order-1")
	if err != nil || info.Version != 2 {
		t.Fatalf("stream info %+v, %v", info, err)
	}
	info, err = s.Stream(context.Background(), "nothing-here")
	if err != nil || info.Version != eventstore.NoVersion {
		t.Fatalf("unknown stream info %+v, %v", info, err)
	}
}

func wantConflict(t *testing.T, err error, actual int64) {
	t.Helper()
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *ConflictError", err)
	}
	if ce.Actual != actual {
		t.Fatalf("conflict actual %d, want %d (%v)", ce.Actual, actual, err)
	}
}

func testExpected(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	_, err := s.Append(ctx, "a", eventstore.StreamExists, Event("x", ""))
	wantConflict(t, err, eventstore.NoVersion)
	_, err = s.Append(ctx, "a", eventstore.Exact(0), Event("x", ""))
	wantConflict(t, err, eventstore.NoVersion)
	mustAppend(t, s, "a", eventstore.NoStream, Event("x", ""))
	_, err = s.Append(ctx, "a", eventstore.NoStream, Event("x", ""))
	wantConflict(t, err, 0)
	mustAppend(t, s, "a", eventstore.StreamExists, Event("x", ""))
	mustAppend(t, s, "a", eventstore.Any, Event("x", ""))
	_, err = s.Append(ctx, "a", eventstore.Exact(1), Event("x", ""))
	wantConflict(t, err, 2)
	mustAppend(t, s, "a", eventstore.Exact(2), Event("x", ""))
	mustAppend(t, s, "b", eventstore.Any, Event("x", ""))
	wantVersions(t, read(t, s, "a", eventstore.ReadOptions{}), 0, 1, 2, 3)
}

func testIdempotent(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	evs := events(3, "x")
	first := mustAppend(t, s, "s", eventstore.NoStream, evs...)
	mustAppend(t, s, "s", eventstore.Exact(2), Event("y", ""))
	// The retry after a lost reply: same ids, same (now stale) expectation.
	again, err := s.Append(ctx, "s", eventstore.NoStream, evs...)
	if err != nil || !again.Duplicate {
		t.Fatalf("repeat append: %+v, %v", again, err)
	}
	again.Duplicate = false
	if again != first {
		t.Fatalf("repeat append result %+v, first %+v", again, first)
	}
	wantVersions(t, read(t, s, "s", eventstore.ReadOptions{}), 0, 1, 2, 3)
	_, err = s.Append(ctx, "s", eventstore.Any, evs[0], Event("z", ""))
	if !errors.Is(err, eventstore.ErrPartialDuplicate) {
		t.Fatalf("partial repeat: %v, want ErrPartialDuplicate", err)
	}
	// The same id in another stream is another event.
	mustAppend(t, s, "other", eventstore.NoStream, evs[0])
	wantVersions(t, read(t, s, "s", eventstore.ReadOptions{}), 0, 1, 2, 3)
}

func testMulti(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	mustAppend(t, s, "m1", eventstore.NoStream, Event("x", ""))
	res, err := s.AppendMulti(ctx,
		eventstore.StreamAppend{Stream: "m2", Expected: eventstore.NoStream, Events: events(2, "y")},
		eventstore.StreamAppend{Stream: "m1", Expected: eventstore.Exact(0), Events: events(1, "y")})
	if err != nil || len(res) != 2 || res[0].Stream != "m2" || res[0].LastVersion != 1 || res[1].Stream != "m1" || res[1].FirstVersion != 1 {
		t.Fatalf("multi append: %+v, %v", res, err)
	}
	// One stream's conflict fails the whole append.
	_, err = s.AppendMulti(ctx,
		eventstore.StreamAppend{Stream: "m3", Expected: eventstore.NoStream, Events: events(1, "y")},
		eventstore.StreamAppend{Stream: "m1", Expected: eventstore.Exact(0), Events: events(1, "y")})
	wantConflict(t, err, 1)
	wantVersions(t, read(t, s, "m3", eventstore.ReadOptions{}))
	wantVersions(t, read(t, s, "m1", eventstore.ReadOptions{}), 0, 1)
	head, err := s.Head(ctx)
	if err != nil || head != res[1].LastPosition && head != res[0].LastPosition {
		t.Fatalf("head %d (%v) after %+v", head, err, res)
	}
}

func testReadAll(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	var want []string
	for i := range 25 {
		e := Event("x", strconv.Itoa(i))
		mustAppend(t, s, "r"+strconv.Itoa(i%3), eventstore.Any, e)
		want = append(want, e.ID)
	}
	var got []string
	after := int64(0)
	for {
		recs, err := s.ReadAll(ctx, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if r.Position <= after {
				t.Fatalf("position %d after %d", r.Position, after)
			}
			after = r.Position
			got = append(got, r.ID)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("$all read %d events in another order than appended (%d)", len(got), len(want))
	}
	if head, _ := s.Head(ctx); head != after {
		t.Fatalf("head %d, last read position %d", head, after)
	}
}

func testTemporal(t *testing.T, s eventstore.Store) {
	mustAppend(t, s, "t", eventstore.NoStream, events(3, "x")...)
	mid := time.Now()
	// Recorded times have microsecond precision; step past mid.
	for !time.Now().After(mid.Add(time.Millisecond)) {
		time.Sleep(time.Millisecond) // the clock, not another goroutine, is waited for
	}
	mustAppend(t, s, "t", eventstore.Exact(2), events(2, "y")...)
	wantVersions(t, read(t, s, "t", eventstore.ReadOptions{Until: 2}), 0, 1)
	wantVersions(t, read(t, s, "t", eventstore.ReadOptions{Before: mid.Add(time.Millisecond / 2)}), 0, 1, 2)
	wantVersions(t, read(t, s, "t", eventstore.ReadOptions{From: -1, Direction: eventstore.Backward, Until: 4}), 3, 2, 1, 0)
}

func testMeta(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	mustAppend(t, s, "m", eventstore.NoStream, events(10, "x")...)
	if err := s.SetMeta(ctx, "m", eventstore.StreamMeta{MaxCount: 3}); err != nil {
		t.Fatal(err)
	}
	wantVersions(t, read(t, s, "m", eventstore.ReadOptions{}), 7, 8, 9)
	if err := s.SetMeta(ctx, "m", eventstore.StreamMeta{TruncateBefore: 8}); err != nil {
		t.Fatal(err)
	}
	wantVersions(t, read(t, s, "m", eventstore.ReadOptions{From: -1, Direction: eventstore.Backward}), 9, 8)
	if err := s.SetMeta(ctx, "m", eventstore.StreamMeta{MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if n := len(read(t, s, "m", eventstore.ReadOptions{})); n != 10 {
		t.Fatalf("max age 1h shows %d of 10 fresh events", n)
	}
	info, err := s.Stream(ctx, "m")
	if err != nil || info.Meta.MaxAge != time.Hour || info.Version != 9 {
		t.Fatalf("info %+v, %v", info, err)
	}
	// Versions never move: the next append is still 10.
	if r := mustAppend(t, s, "m", eventstore.Exact(9), Event("x", "")); r.FirstVersion != 10 {
		t.Fatalf("append after truncation at version %d", r.FirstVersion)
	}
	if err := s.SetMeta(ctx, "m", eventstore.StreamMeta{MaxCount: -1}); err == nil {
		t.Fatal("negative max count accepted")
	}
}

// allOf returns the versions of stream's events in $all, reading in
// pages of page.
func allOf(t *testing.T, s eventstore.Store, stream string, page int) []int64 {
	t.Helper()
	var out []int64
	var after int64
	for {
		recs, err := s.ReadAll(context.Background(), after, page)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			if r.Position <= after {
				t.Fatalf("$all went back from %d to %d", after, r.Position)
			}
			after = r.Position
			if r.Stream == stream {
				out = append(out, r.Version)
			}
		}
	}
}

// testMetaInAll: a stream's bounds hide from $all what they hide from
// ReadStream; a page of $all counts visible events only.
func testMetaInAll(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	mustAppend(t, s, "m", eventstore.NoStream, events(10, "x")...)
	mustAppend(t, s, "other", eventstore.NoStream, events(3, "x")...)
	set := func(stream string, m eventstore.StreamMeta) {
		t.Helper()
		if err := s.SetMeta(ctx, stream, m); err != nil {
			t.Fatal(err)
		}
	}
	same := func(what string, want ...int64) {
		t.Helper()
		for _, page := range []int{0, 1, 4} {
			if got := allOf(t, s, "m", page); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: $all (pages of %d) has versions %v of m, want %v", what, page, got, want)
			}
		}
		wantVersions(t, read(t, s, "m", eventstore.ReadOptions{}), want...)
		if got := allOf(t, s, "other", 0); len(got) != 3 {
			t.Fatalf("%s: $all has %v of the unbounded stream", what, got)
		}
	}
	set("m", eventstore.StreamMeta{MaxCount: 3})
	same("max count 3", 7, 8, 9)
	set("m", eventstore.StreamMeta{TruncateBefore: 8})
	same("truncate before 8", 8, 9)
	set("m", eventstore.StreamMeta{MaxCount: 4, TruncateBefore: 5})
	same("both", 6, 7, 8, 9)
	set("m", eventstore.StreamMeta{MaxAge: time.Hour})
	same("max age 1h", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	// A 1ms max age: once the events are older, both reads hide them all.
	set("m", eventstore.StreamMeta{MaxAge: time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for len(read(t, s, "m", eventstore.ReadOptions{})) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("events older than a 1ms max age still read")
		}
		time.Sleep(time.Millisecond) // waiting for the clock, not for another goroutine
	}
	same("max age 1ms")
	set("m", eventstore.StreamMeta{})
	same("no bounds", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
}

// testHiddenInAll: runs of events that bounds hide, longer than a page
// of $all, between visible events, in several bounded streams (more than
// some stores apply outside SQL): every page before the end is full, and
// paging goes on past the hidden runs to the end.
func testHiddenInAll(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	var want []string
	visible := func(stream string) {
		t.Helper()
		e := Event("x", stream)
		mustAppend(t, s, stream, eventstore.Any, e)
		want = append(want, e.ID)
	}
	setMeta := func(stream string, m eventstore.StreamMeta) {
		t.Helper()
		if err := s.SetMeta(ctx, stream, m); err != nil {
			t.Fatal(err)
		}
	}
	visible("a")
	for _, h := range []string{"h0", "h1", "h2"} { // 3 x 12 hidden in a row
		mustAppend(t, s, h, eventstore.NoStream, events(12, "x")...)
	}
	setMeta("h0", eventstore.StreamMeta{TruncateBefore: 12})
	setMeta("h1", eventstore.StreamMeta{MaxAge: time.Hour, TruncateBefore: 100})
	if err := s.Delete(ctx, "h2", false); err != nil {
		t.Fatal(err)
	}
	visible("b")
	// A max count: all but the last of 15 hidden.
	last := mustAppend(t, s, "c", eventstore.NoStream, events(15, "x")...)
	setMeta("c", eventstore.StreamMeta{MaxCount: 1})
	lastC := read(t, s, "c", eventstore.ReadOptions{})
	if len(lastC) != 1 || lastC[0].Position != last.LastPosition {
		t.Fatalf("stream c with max count 1 reads %v", versions(lastC))
	}
	want = append(want, lastC[0].ID)
	// A bounded stream whose bounds hide nothing yet.
	setMeta("e", eventstore.StreamMeta{MaxAge: time.Hour})
	visible("e")
	visible("a")
	for _, page := range []int{0, 1, 2, 3, 5, 100} {
		var got []string
		var after int64
		for {
			recs, err := s.ReadAll(ctx, after, page)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			if page > 0 && len(recs) > page {
				t.Fatalf("pages of %d: a page of %d", page, len(recs))
			}
			if page > 0 && len(recs) < page && len(got)+len(recs) < len(want) {
				t.Fatalf("pages of %d: a short page (%d) after %d of %d visible events", page, len(recs), len(got), len(want))
			}
			for _, r := range recs {
				if r.Position <= after {
					t.Fatalf("pages of %d: position %d after %d", page, r.Position, after)
				}
				after = r.Position
				got = append(got, r.ID)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("pages of %d: $all has %v, want %v", page, got, want)
		}
	}
}

func testDelete(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	mustAppend(t, s, "soft", eventstore.NoStream, events(2, "x")...)
	if err := s.Delete(ctx, "soft", false); err != nil {
		t.Fatal(err)
	}
	wantVersions(t, read(t, s, "soft", eventstore.ReadOptions{}))
	if info, err := s.Stream(ctx, "soft"); err != nil || !info.Deleted || info.Version != 1 {
		t.Fatalf("soft-deleted info %+v, %v", info, err)
	}
	if got := allOf(t, s, "soft", 0); len(got) != 0 {
		t.Fatalf("soft-deleted events in $all: versions %v", got)
	}
	mustAppend(t, s, "soft", eventstore.Exact(1), Event("x", ""))
	wantVersions(t, read(t, s, "soft", eventstore.ReadOptions{}), 2)
	if got := allOf(t, s, "soft", 0); fmt.Sprint(got) != "[2]" {
		t.Fatalf("$all after the soft-deleted stream's next append: versions %v, want [2]", got)
	}

	mustAppend(t, s, "hard", eventstore.NoStream, events(2, "x")...)
	if err := s.Delete(ctx, "hard", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadStream(ctx, "hard", eventstore.ReadOptions{}); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("read of a tombstone: %v", err)
	}
	if _, err := s.Append(ctx, "hard", eventstore.Any, Event("x", "")); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("append to a tombstone: %v", err)
	}
	recs, err := s.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Stream == "hard" {
			t.Fatalf("hard-deleted event still in $all: %+v", r)
		}
	}
}

func testSnapshots(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	if _, ok, err := s.LoadSnapshot(ctx, "x"); ok || err != nil {
		t.Fatalf("snapshot of nothing: %v %v", ok, err)
	}
	for v := int64(5); v <= 10; v += 5 {
		if err := s.SaveSnapshot(ctx, eventstore.Snapshot{Stream: "x", Version: v, SchemaVersion: 2, Data: []byte(strconv.FormatInt(v, 10))}); err != nil {
			t.Fatal(err)
		}
	}
	sn, ok, err := s.LoadSnapshot(ctx, "x")
	if !ok || err != nil || sn.Version != 10 || sn.SchemaVersion != 2 || string(sn.Data) != "10" {
		t.Fatalf("snapshot %+v %v %v", sn, ok, err)
	}
}

func testBadInput(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	for _, name := range []string{"", "$all", string(make([]byte, eventstore.MaxStreamName+1))} {
		if _, err := s.Append(ctx, name, eventstore.Any, Event("x", "")); !errors.Is(err, eventstore.ErrBadStream) {
			t.Errorf("stream %q: %v, want ErrBadStream", name, err)
		}
	}
	if _, err := s.Append(ctx, "s", eventstore.Any, event.Event{ID: "1"}); err == nil {
		t.Error("event without type and source appended")
	}
	if _, err := s.Append(ctx, "s", eventstore.Any); err == nil {
		t.Error("append of nothing accepted")
	}
	big := Event("x", string(make([]byte, 1<<20+1)))
	if _, err := s.Append(ctx, "s", eventstore.Any, Event("x", ""), big); !errors.Is(err, eventstore.ErrTooLarge) {
		t.Errorf("event over 1 MiB: %v, want ErrTooLarge", err)
	}
	e := Event("x", "")
	if _, err := s.Append(ctx, "s", eventstore.Any, e, e); err == nil {
		t.Error("one id twice in one append accepted")
	}
	// Nothing of the refused appends was written.
	wantVersions(t, read(t, s, "s", eventstore.ReadOptions{}))
	if head, err := s.Head(ctx); err != nil || head != 0 {
		t.Fatalf("head %d after refused appends (%v)", head, err)
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Append(ctx2, "s", eventstore.Any, Event("x", "")); err == nil {
		t.Error("append with a cancelled context succeeded")
	}
	wantVersions(t, read(t, s, "s", eventstore.ReadOptions{}))
}

func testSubscribe(t *testing.T, s eventstore.Store) {
	mustAppend(t, s, "a", eventstore.NoStream, events(5, "x")...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan eventstore.Recorded, 100)
	done := make(chan error, 1)
	go func() {
		done <- eventstore.Subscribe(ctx, s, 2, eventstore.SubscribeOptions{Batch: 2, Poll: 10 * time.Millisecond},
			func(_ context.Context, r eventstore.Recorded) error { got <- r; return nil })
	}()
	var seen []int64
	next := func() {
		t.Helper()
		select {
		case r := <-got:
			seen = append(seen, r.Position)
		case <-time.After(10 * time.Second):
			t.Fatalf("subscription stalled after %v", seen)
		}
	}
	for range 3 {
		next()
	}
	mustAppend(t, s, "b", eventstore.NoStream, events(2, "x")...)
	next()
	next()
	if fmt.Sprint(seen) != "[3 4 5 6 7]" {
		t.Fatalf("subscription after 2 saw positions %v", seen)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("subscription ended with %v", err)
	}
	// A failing handler stops it with its error.
	boom := errors.New("boom")
	err := eventstore.Subscribe(context.Background(), s, 0, eventstore.SubscribeOptions{},
		func(context.Context, eventstore.Recorded) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("subscription with a failing handler: %v", err)
	}
}

// counter is the aggregate of the conformance tests: a number that
// commands add to, which may not exceed a limit.
type counter struct{ n int }

var counterAgg = eventstore.Aggregate[counter, int]{
	Evolve: func(c counter, r eventstore.Recorded) (counter, error) {
		if r.Type != "added" {
			return c, fmt.Errorf("unknown event type %q", r.Type)
		}
		d, err := strconv.Atoi(string(r.Data))
		c.n += d
		return c, err
	},
	Decide: func(c counter, add int) ([]event.Event, error) {
		if c.n+add > 1000 {
			return nil, errors.New("over the limit")
		}
		return []event.Event{Event("added", strconv.Itoa(add))}, nil
	},
	MaxRetries:    100,
	SnapshotEvery: 4,
	SchemaVersion: 1,
	Encode:        func(c counter) ([]byte, error) { return []byte(strconv.Itoa(c.n)), nil },
	Decode: func(b []byte) (counter, error) {
		n, err := strconv.Atoi(string(b))
		return counter{n}, err
	},
}

func testAggregate(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	agg := counterAgg
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if _, _, err := agg.Handle(ctx, s, "counter", 1); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c, v, err := agg.Load(ctx, s, "counter")
	if err != nil || c.n != 40 || v != 39 {
		t.Fatalf("8 writers x 5 increments: %+v at %d, %v", c, v, err)
	}
	if sn, ok, _ := s.LoadSnapshot(ctx, "counter"); !ok || sn.Version < 4 {
		t.Fatalf("no snapshot after 40 events: %+v", sn)
	}
	// A snapshot of another schema version is ignored, not misread.
	if err := s.SaveSnapshot(ctx, eventstore.Snapshot{Stream: "counter", Version: 39, SchemaVersion: 0, Data: []byte("garbage")}); err != nil {
		t.Fatal(err)
	}
	if c, _, err := agg.Load(ctx, s, "counter"); err != nil || c.n != 40 {
		t.Fatalf("load beside an old-schema snapshot: %+v, %v", c, err)
	}
	// A snapshot that claims more than the events do is believed: prove
	// Load reads it by planting one.
	if err := s.SaveSnapshot(ctx, eventstore.Snapshot{Stream: "counter", Version: 39, SchemaVersion: 1, Data: []byte("500")}); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := agg.Load(ctx, s, "counter"); c.n != 500 {
		t.Fatalf("load did not start from the snapshot: %+v", c)
	}
	if c, v, err := agg.LoadAt(ctx, s, "counter", eventstore.ReadOptions{Until: 10}); err != nil || c.n != 10 || v != 9 {
		t.Fatalf("state as of version 9: %+v at %d, %v", c, v, err)
	}
	if _, _, err := agg.Handle(ctx, s, "counter", 501); err == nil {
		t.Fatal("command over the limit accepted")
	}
	mustAppend(t, s, "bad", eventstore.NoStream, Event("mystery", "1"))
	if _, _, err := agg.Load(ctx, s, "bad"); err == nil {
		t.Fatal("unknown event type loaded")
	}
}

func testUpcast(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	old := Event("order.placed", "42")
	mustAppend(t, s, "u", eventstore.NoStream, old)
	var u eventstore.Upcasters
	u.Register("order.placed", "", func(e event.Event) (event.Event, error) {
		e.SchemaVersion = "2"
		e.Data = []byte(`{"amount":` + string(e.Data) + `}`)
		return e, nil
	})
	us := eventstore.WithUpcasters(s, &u)
	recs, err := us.ReadStream(ctx, "u", eventstore.ReadOptions{})
	if err != nil || len(recs) != 1 || recs[0].SchemaVersion != "2" || string(recs[0].Data) != `{"amount":42}` {
		t.Fatalf("upcast read: %+v, %v", recs, err)
	}
	all, err := us.ReadAll(ctx, 0, 0)
	if err != nil || len(all) != 1 || all[0].SchemaVersion != "2" {
		t.Fatalf("upcast $all read: %+v, %v", all, err)
	}
	// The stored event is unchanged.
	if raw := read(t, s, "u", eventstore.ReadOptions{}); string(raw[0].Data) != "42" || raw[0].SchemaVersion != "" {
		t.Fatalf("stored event rewritten: %+v", raw[0])
	}
	u.Register("order.placed", "2", func(e event.Event) (event.Event, error) { return e, nil })
	if _, err := us.ReadStream(ctx, "u", eventstore.ReadOptions{}); err == nil {
		t.Fatal("an upcaster that changes nothing was accepted")
	}
}

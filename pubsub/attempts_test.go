package pubsub

import (
	"maps"
	"testing"
)

// TestAttemptRecordFormat: the record round-trips, keeps only offsets at
// or after the committed one, and is not read from foreign metadata.
func TestAttemptRecordFormat(t *testing.T) {
	counts := map[int64]int{3: 1, 10: 2, 11: 0, 12: 5}
	s := encodeAttempts(4100, counts, 10)
	if s != "herald.attempts/1 h=4100 a=10:2,12:5" {
		t.Fatalf("encoded %q", s)
	}
	rec, ok := parseAttempts(s)
	if !ok || rec.mark != 4100 || !maps.Equal(rec.counts, map[int64]int{10: 2, 12: 5}) {
		t.Fatalf("parsed %+v, %v", rec, ok)
	}
	if rec, ok := parseAttempts(encodeAttempts(-1, nil, 0)); !ok || rec.mark != -1 || len(rec.counts) != 0 {
		t.Fatalf("clean record parsed %+v, %v", rec, ok)
	}
	for _, bad := range []string{"", "some other client's metadata", "herald.attempts/1 h=x", "herald.attempts/1 h=1 a=1:-2", "herald.attempts/1 a=1"} {
		if rec, ok := parseAttempts(bad); ok {
			t.Errorf("parseAttempts(%q) = %+v, want not ok", bad, rec)
		}
	}
	many := map[int64]int{}
	for i := range 1000 {
		many[int64(i)] = 1_000_000
	}
	if s := encodeAttempts(1<<62, many, 0); len(s) > 1024 {
		t.Fatalf("record of 1000 counts is %d bytes; want it bounded", len(s))
	}
}

// FuzzParseAttempts: parsing any metadata never panics, and what parses
// encodes to a record that parses the same.
func FuzzParseAttempts(f *testing.F) {
	f.Add("herald.attempts/1 h=4100 a=10:2,12:5")
	f.Add("herald.attempts/1 h=-1")
	f.Fuzz(func(t *testing.T, s string) {
		rec, ok := parseAttempts(s)
		if !ok {
			return
		}
		again, ok := parseAttempts(encodeAttempts(rec.mark, rec.counts, -1<<63))
		if !ok || again.mark != rec.mark {
			t.Fatalf("%q: re-parse %+v, %v", s, again, ok)
		}
	})
}

package stream

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzSplitEndpoint: another member's group metadata UserData never
// panics the parser, and what JoinGroupMetadata writes reads back, the
// inner balancer's UserData intact.
func FuzzSplitEndpoint(f *testing.F) {
	f.Add([]byte{}, "10.0.0.1:8080")
	f.Add([]byte{0xff, 'H', 'S', 0x01, 0xff, 0xff}, "")
	f.Add([]byte{0, 0, 0, 1, 0, 3, 'a', 'b', 'c'}, "h:1")
	f.Fuzz(func(t *testing.T, ud []byte, endpoint string) {
		splitEndpoint(ud) // any bytes: no panic
		if len(endpoint) > 1<<15 {
			return
		}
		b := endpointBalancer{kgo.CooperativeStickyBalancer(), endpoint}
		raw := b.JoinGroupMetadata([]string{"a", "b"}, map[string][]int32{"a": {0, 1}}, 3)
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(raw); err != nil {
			t.Fatal(err)
		}
		got, inner, ok := splitEndpoint(meta.UserData)
		if !ok || got != endpoint {
			t.Fatalf("endpoint %q read back as %q (%v)", endpoint, got, ok)
		}
		var plain kmsg.ConsumerMemberMetadata
		if err := plain.ReadFrom(kgo.CooperativeStickyBalancer().JoinGroupMetadata([]string{"a", "b"}, map[string][]int32{"a": {0, 1}}, 3)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(inner, plain.UserData) {
			t.Fatalf("inner UserData %x, want %x", inner, plain.UserData)
		}
	})
}

// FuzzSlidingState: a sliding window state that does not parse is an
// error, never a panic, and one that parses encodes back to its bytes.
func FuzzSlidingState(f *testing.F) {
	st := slidingState{recs: []slidingRecord{{1, []byte("a")}, {5, nil}}, wins: []slidingWindow{{-4, []byte{0, 1}}}}
	f.Add(st.encode())
	f.Add([]byte{0, 0, 0, 9})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeSlidingState(b)
		if err != nil {
			return
		}
		if enc := st.encode(); !bytes.HasPrefix(b, enc) {
			t.Fatalf("re-encoded %x is not a prefix of %x", enc, b)
		}
	})
}

// FuzzQueryInput: the HTTP query's key and times, from any client,
// give a value or an error, never a panic.
func FuzzQueryInput(f *testing.F) {
	f.Add("herald", "0")
	f.Add("42", "2026-11-29T10:00:00Z")
	f.Add(`{"a":1}`, "yesterday")
	f.Fuzz(func(t *testing.T, key, tm string) {
		_, _, _ = parseKeyText(String(), key)
		_, _, _ = parseKeyText(Int64(), key)
		_, _, _ = parseKeyText(JSON[map[string]int](), key)
		_, _ = parseQueryTime(tm, 0)
	})
}

func TestParseKeyText(t *testing.T) {
	for _, c := range []struct {
		name, in string
		parse    func(string) ([]byte, any, error)
		exp      any
		expErr   bool
	}{
		{"string as is", `a "b"`, func(s string) ([]byte, any, error) { return parseKeyText(String(), s) }, `a "b"`, false},
		{"int64 as JSON", "42", func(s string) ([]byte, any, error) { return parseKeyText(Int64(), s) }, int64(42), false},
		{"int64 not a number", "x", func(s string) ([]byte, any, error) { return parseKeyText(Int64(), s) }, nil, true},
		{"struct as JSON", `{"ID":"o-1"}`, func(s string) ([]byte, any, error) { return parseKeyText(JSON[struct{ ID string }](), s) }, struct{ ID string }{"o-1"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, got, err := c.parse(c.in)
			if (err != nil) != c.expErr || (!c.expErr && got != c.exp) {
				t.Errorf("parse %q: %v, %v; want %v (error %v)", c.in, got, err, c.exp, c.expErr)
			}
		})
	}
}

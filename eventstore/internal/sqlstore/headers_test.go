package sqlstore

import (
	"strconv"
	"testing"

	"github.com/heraldhq/herald/event"
)

func TestHeadersRoundTrip(t *testing.T) {
	e := event.New("/src", "t.x", []byte("d"))
	e.Subject = "with:colons 12:and\nnewlines"
	e = e.WithExtension("tenant", "")
	got, err := decodeEvent("s", encodeHeaders(e), e.Data, new([]event.Header))
	if err != nil || got.ID != e.ID || got.Subject != e.Subject || got.Type != e.Type || !got.Time.Equal(e.Time) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{"x", "3:ab", "-1:", "2:ab5:c", "99999999999999999999:a", "+1:a", ":", "1a:b"} {
		if _, err := decodeHeaders(bad, nil); err == nil {
			t.Errorf("malformed %q decoded", bad)
		}
	}
}

// FuzzDecodeHeaders: any stored value decodes or fails, never panics,
// and what decodes re-encodes to the same bytes.
func FuzzDecodeHeaders(f *testing.F) {
	f.Add("5:ce_id3:abc")
	f.Add("0:0:")
	f.Fuzz(func(t *testing.T, s string) {
		hs, err := decodeHeaders(s, nil)
		if err != nil {
			return
		}
		var b []byte
		for _, h := range hs {
			for _, x := range []string{h.Key, h.Value} {
				b = append(b, []byte(strconv.Itoa(len(x))+":"+x)...)
			}
		}
		if _, err := decodeHeaders(string(b), nil); err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", b, err)
		}
	})
}

// TestDecodeEventAllocations: decoding a stored event (no extensions)
// allocates nothing once the scratch buffer has grown: the attributes
// share the stored string.
func TestDecodeEventAllocations(t *testing.T) {
	e := event.New("/src", "t.x", []byte("d"))
	e.CorrelationID, e.DataContentType = "c", "application/json"
	stored := encodeHeaders(e)
	var scratch []event.Header
	var got event.Event
	var err error
	n := testing.AllocsPerRun(100, func() { got, err = decodeEvent("s", stored, e.Data, &scratch) })
	if err != nil || got.ID != e.ID || got.CorrelationID != "c" || got.Key != "s" {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	if n != 0 {
		t.Fatalf("%v allocations per event, want 0", n)
	}
}

package registry

import (
	"encoding/json"
	"testing"
)

// TestErrorBodyFields checks that an error body carries only Confluent's
// fields, error_code and message: clients that decode it strictly (and
// people reading it) see nothing else.
func TestErrorBodyFields(t *testing.T) {
	tr := newTestRegistry(t)
	for _, path := range []string{"/subjects/nope/versions", "/schemas/ids/999", "/no/such/route"} {
		r := tr.do(t, "GET", path, "")
		if r.status != 404 {
			t.Fatalf("GET %s: status %d, want 404", path, r.status)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(r.body), &m); err != nil {
			t.Fatalf("GET %s: body %q: %v", path, r.body, err)
		}
		if len(m) != 2 || m["error_code"] == nil || m["message"] == nil {
			t.Fatalf("GET %s: body %s, want exactly error_code and message", path, r.body)
		}
	}
}

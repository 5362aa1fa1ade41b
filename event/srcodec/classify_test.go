package srcodec_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/event/srcodec"
	"github.com/heraldhq/herald/registry/serde"
)

// TestDecodeErrorClassification: a registry that answers 5xx, 429 or not
// at all gives a transient DecodeError; bytes not in the wire format and
// an id the registry does not know (404, 40403) give a permanent one.
func TestDecodeErrorClassification(t *testing.T) {
	answer := func(status int, body string) string {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(hs.Close)
		return hs.URL
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	withID := event.Event{Type: "order.placed", Data: serde.AppendHeader(nil, 7)}
	for _, tc := range []struct {
		name      string
		url       string
		e         event.Event
		transient bool
	}{
		{"503", answer(503, `{"error_code":50003,"message":"unavailable"}`), withID, true},
		{"500", answer(500, `{"error_code":50001,"message":"store error"}`), withID, true},
		{"429", answer(429, `{"error_code":429,"message":"slow down"}`), withID, true},
		{"unreachable", closed.URL, withID, true},
		{"40403", answer(404, `{"error_code":40403,"message":"Schema 7 not found"}`), withID, false},
		{"not wire format", closed.URL, event.Event{Type: "order.placed", Data: []byte("{}")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := sr.NewClient(sr.URLs(tc.url))
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]any
			err = srcodec.UseLatest(cl, sr.TypeAvro).Decode(context.Background(), tc.e, &v)
			var de *srcodec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode = %v, want a *DecodeError", err)
			}
			if de.Transient() != tc.transient {
				t.Fatalf("Decode = %v: Transient() = %v, want %v", err, de.Transient(), tc.transient)
			}
		})
	}
}

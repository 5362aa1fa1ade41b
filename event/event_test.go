package event

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestNewIsUUIDv7(t *testing.T) {
	e := New("/s", "t", nil)
	id, err := uuid.Parse(e.ID)
	if err != nil || id.Version() != 7 {
		t.Fatalf("id %q: version %v, err %v", e.ID, id.Version(), err)
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		in      Event
		wantErr int // number of joined problems
	}{
		{"ok", Event{ID: "1", Source: "/s", Type: "t"}, 0},
		{"empty", Event{}, 3},
		{"bad ext", Event{ID: "1", Source: "/s", Type: "t", Extensions: map[string]string{"Bad_Name": "x"}}, 1},
		{"reserved ext", Event{ID: "1", Source: "/s", Type: "t", Extensions: map[string]string{"id": "x"}}, 1},
		{"spec", Event{ID: "1", Source: "/s", Type: "t", SpecVersion: "0.3"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			n := 0
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				n = len(j.Unwrap())
			}
			if n != tt.wantErr {
				t.Fatalf("got %d problems (%v), want %d", n, err, tt.wantErr)
			}
		})
	}
}

func full() Event {
	return Event{
		ID: "id-1", Source: "/orders", Type: "order.created", SpecVersion: "1.0",
		Time:    time.Date(2024, 7, 1, 12, 0, 0, 123e6, time.UTC),
		Subject: "o-1", DataContentType: "application/json", DataSchema: "urn:s:1",
		CorrelationID: "c-1", CausationID: "k-1", SchemaVersion: "3",
		Extensions: map[string]string{"tenant": "acme"},
		Key:        "o-1", Data: []byte(`{"n":1}`),
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	in := full()
	r := in.Record("orders")
	// Foreign headers are ignored.
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: "traceparent", Value: []byte("x")})
	got, err := FromRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("got %+v\nwant %+v", got, in)
	}
	want := map[string]string{
		"ce_specversion": "1.0", "ce_id": "id-1", "ce_source": "/orders", "ce_type": "order.created",
		"ce_time": "2024-07-01T12:00:00.123Z", "ce_subject": "o-1", "ce_dataschema": "urn:s:1",
		"content-type": "application/json", "ce_correlationid": "c-1", "ce_causationid": "k-1",
		"ce_schemaversion": "3", "ce_tenant": "acme",
	}
	for k, v := range want {
		if h := header(r.Headers, k); h != v {
			t.Errorf("header %s = %q, want %q", k, h, v)
		}
	}
}

func TestStructuredRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		ct   string
		data []byte
	}{
		{"json", "application/json", []byte(`{"n":1}`)},
		{"binary", "application/octet-stream", []byte{0, 1, 2, 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := full()
			in.DataContentType, in.Data = tt.ct, tt.data
			b, err := MarshalStructured(in)
			if err != nil {
				t.Fatal(err)
			}
			r := &kgo.Record{Key: []byte("o-1"), Value: b, Headers: []kgo.RecordHeader{
				{Key: "content-type", Value: []byte("application/cloudevents+json; charset=utf-8")},
			}}
			got, err := FromRecord(r)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, in) {
				t.Fatalf("got %+v\nwant %+v", got, in)
			}
		})
	}
}

func TestFromRecordErrors(t *testing.T) {
	tests := []struct {
		name string
		in   *kgo.Record
		want error
	}{
		{"plain", &kgo.Record{Value: []byte("x")}, ErrNotEvent},
		{"bad time", &kgo.Record{Headers: []kgo.RecordHeader{{Key: "ce_id", Value: []byte("1")}, {Key: "ce_time", Value: []byte("yesterday")}}}, &DecodeError{}},
		{"bad structured", &kgo.Record{Value: []byte("{"), Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte(StructuredContentType)}}}, &DecodeError{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromRecord(tt.in)
			var de *DecodeError
			switch want := tt.want.(type) { //nolint:errorlint // the wanted error's type picks the check; err is checked with errors.As/Is
			case *DecodeError:
				if !errors.As(err, &de) {
					t.Fatalf("got %v, want a DecodeError", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("got %v, want %v", err, want)
				}
			}
		})
	}
}

func TestLink(t *testing.T) {
	root := Link(context.Background(), New("/a", "a", nil))
	if root.CorrelationID != root.ID || root.CausationID != "" {
		t.Fatalf("root: %+v", root)
	}
	ctx := NewContext(context.Background(), root)
	child := Link(ctx, New("/b", "b", nil))
	if child.CorrelationID != root.ID || child.CausationID != root.ID {
		t.Fatalf("child: %+v", child)
	}
	grand := Link(NewContext(ctx, child), New("/c", "c", nil))
	if grand.CorrelationID != root.ID || grand.CausationID != child.ID {
		t.Fatalf("grandchild: %+v", grand)
	}
}

func TestTypedJSON(t *testing.T) {
	type order struct{ ID string }
	ctx := context.Background()
	e, err := Encode(ctx, JSON, "orders", "/orders", "order.created", order{ID: "42"})
	if err != nil {
		t.Fatal(err)
	}
	if e.DataContentType != "application/json" {
		t.Fatalf("content type %q", e.DataContentType)
	}
	o, err := Decode[order](ctx, JSON, e)
	if err != nil || o.ID != "42" {
		t.Fatalf("got %+v, %v", o, err)
	}
	if _, err := Decode[order](ctx, JSON, Event{Data: []byte("nope")}); err == nil {
		t.Fatal("want a decode error")
	}
}

func TestRecordContext(t *testing.T) {
	e := New("/src", "t", []byte("x"))
	e.CorrelationID = "corr"
	e.Key = "k"
	ctx := NewRecordContext(context.Background(), e.Record("topic"))
	got, ok := FromContext(ctx)
	if !ok || got.ID != e.ID || got.CorrelationID != "corr" || got.Key != "k" {
		t.Fatalf("FromContext = %+v, %v", got, ok)
	}
	plain := NewRecordContext(context.WithValue(context.Background(), otherKey{}, 1), &kgo.Record{Key: []byte("k2"), Value: []byte("v")})
	got, ok = FromContext(plain)
	if !ok || got.Key != "k2" || string(got.Data) != "v" || got.ID != "" {
		t.Fatalf("FromContext of a plain record = %+v, %v", got, ok)
	}
	if plain.Value(otherKey{}) != 1 {
		t.Fatal("other values not passed to the parent")
	}
}

// otherKey is a context key of another package.
type otherKey struct{}

func header(hs []kgo.RecordHeader, k string) string {
	for _, h := range hs {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

// TestFromHeadersMatchesFromRecord: FromHeaders reads every kind of
// record as FromRecord does: binary, structured (in any case, with
// parameters), foreign headers, not an event, a bad time.
func TestFromHeadersMatchesFromRecord(t *testing.T) {
	structured, err := MarshalStructured(full())
	if err != nil {
		t.Fatal(err)
	}
	bin := full().Record("t")
	records := map[string]*kgo.Record{
		"binary":       bin,
		"foreign":      {Key: []byte("k"), Value: []byte("v"), Headers: append(full().Headers(), kgo.RecordHeader{Key: "traceparent", Value: []byte("x")})},
		"no key":       {Headers: full().Headers()},
		"not an event": {Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte("x")}}},
		"bad time":     {Headers: []kgo.RecordHeader{{Key: HeaderID, Value: []byte("1")}, {Key: HeaderTime, Value: []byte("yesterday")}}},
	}
	for _, ct := range []string{StructuredContentType, "Application/CloudEvents+JSON; charset=utf-8", "  application/cloudevents+json", "application/cloudevents+jsonx"} {
		records["structured "+ct] = &kgo.Record{Key: []byte("k"), Value: structured,
			Headers: []kgo.RecordHeader{{Key: HeaderContentType, Value: []byte(ct)}}}
	}
	for name, r := range records {
		t.Run(name, func(t *testing.T) {
			want, wantErr := FromRecord(r)
			hs := make([]Header, len(r.Headers))
			for i, h := range r.Headers {
				hs[i] = Header{Key: h.Key, Value: string(h.Value)}
			}
			got, err := FromHeaders(string(r.Key), hs, r.Value)
			if !reflect.DeepEqual(got, want) || (err == nil) != (wantErr == nil) ||
				errors.Is(wantErr, ErrNotEvent) != errors.Is(err, ErrNotEvent) {
				t.Fatalf("FromHeaders: %+v, %v\nFromRecord:  %+v, %v", got, err, want, wantErr)
			}
		})
	}
	if e, err := FromRecord(records["structured "+StructuredContentType]); err != nil || e.ID != "id-1" || e.Key != "k" {
		t.Fatalf("structured: %+v, %v", e, err)
	}
	if _, err := FromRecord(records["not an event"]); !errors.Is(err, ErrNotEvent) {
		t.Fatalf("not an event: %v", err)
	}
	var de *DecodeError
	if _, err := FromRecord(records["bad time"]); !errors.As(err, &de) || de.Attribute != "time" {
		t.Fatalf("bad time: %v", err)
	}
}

// TestDecodeAllocations: reading a binary-mode event costs FromHeaders no
// allocation (without extensions, which need their map) and FromRecord
// one (the string its attributes share).
func TestDecodeAllocations(t *testing.T) {
	e := full()
	e.Extensions = nil
	r := e.Record("t")
	hs := make([]Header, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = Header{Key: h.Key, Value: string(h.Value)}
	}
	var err error
	if n := testing.AllocsPerRun(100, func() { _, err = FromHeaders("o-1", hs, r.Value) }); n != 0 || err != nil {
		t.Errorf("FromHeaders: %v allocations per event (%v), want 0", n, err)
	}
	if n := testing.AllocsPerRun(100, func() { _, err = FromRecord(r) }); n != 1 || err != nil {
		t.Errorf("FromRecord: %v allocations per event (%v), want 1", n, err)
	}
}

func BenchmarkFromRecord(b *testing.B) {
	r := full().Record("t")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromRecord(r); err != nil {
			b.Fatal(err)
		}
	}
}

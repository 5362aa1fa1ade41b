package pubsub

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/event"
)

// TestMayBeEvent: a record mayBeEvent turns away is one that
// event.FromRecord finds no event in, and the router's decoding of it
// gives an event of its key and value only.
func TestMayBeEvent(t *testing.T) {
	h := func(kv ...string) []kgo.RecordHeader {
		var hs []kgo.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}
	for _, tc := range []struct {
		name string
		hs   []kgo.RecordHeader
		want bool
	}{
		{"none", nil, false},
		{"traceparent", h("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"), false},
		{"other ce_ attribute", h("ce_type", "t", "ce_source", "/s"), false},
		{"id", h("traceparent", "x", "ce_id", "1"), true},
		{"specversion", h("ce_specversion", "1.0"), true},
		{"content type", h("content-type", "application/cloudevents+json"), true},
		{"plain content type", h("content-type", "text/plain"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &kgo.Record{Key: []byte("k"), Value: []byte(`{"a":1}`), Headers: tc.hs}
			if got := mayBeEvent(tc.hs); got != tc.want {
				t.Fatalf("mayBeEvent = %v, want %v", got, tc.want)
			}
			if tc.want {
				return
			}
			if _, err := event.FromRecord(rec); !errors.Is(err, event.ErrNotEvent) {
				t.Fatalf("FromRecord of a record mayBeEvent turned away: %v, want ErrNotEvent", err)
			}
			var e event.Event
			if err := decodeEvent(&e, rec, "k"); err != nil || e.Key != "k" || string(e.Data) != `{"a":1}` || e.ID != "" || e.Type != "" {
				t.Fatalf("decodeEvent = %+v, %v; want only key and data", e, err)
			}
		})
	}
}

// TestTracingSlabContexts: under the router (a Message with a slab), the
// Tracing middleware's contexts for unsampled parents come from the
// worker's slab, and each stays the context of its own message after
// later messages take theirs, across blocks: a handler may keep one.
func TestTracingSlabContexts(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	var kept []context.Context
	h := Tracing(tp, propagation.TraceContext{})(func(ctx context.Context, _ *Message) error {
		kept = append(kept, ctx)
		return nil
	})
	const n = 3*ctxSlabSize + 5
	traceparent := func(i int) string { return fmt.Sprintf("00-%032x-%016x-00", i+1, i+1) }
	m := &Message{slab: &ctxSlab{}}
	for i := range n {
		m.Record = &kgo.Record{Topic: "t", Offset: int64(i),
			Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte(traceparent(i))}}}
		if err := h(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	for i, ctx := range kept {
		want := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
			propagation.MapCarrier{"traceparent": traceparent(i)}))
		if got := trace.SpanContextFromContext(ctx); !got.Equal(want) {
			t.Fatalf("message %d: context has %v, want %v", i, got, want)
		}
		if _, ok := ctx.(*unsampledCtx); !ok {
			t.Fatalf("message %d: context %T, want the unsampled parent's", i, ctx)
		}
	}
}

// TestTracingRecordContext: under the router's own context of a record
// (a *recordCtx, unwrapped), the Tracing middleware passes an unsampled
// parent on in that context rather than a new one; the handler's context
// gives the parent's span context and still the record's event, and
// each kept context keeps its own record's parent.
func TestTracingRecordContext(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	var kept []context.Context
	h := Tracing(tp, propagation.TraceContext{})(func(ctx context.Context, _ *Message) error {
		kept = append(kept, ctx)
		return nil
	})
	traceparent := func(i int) string { return fmt.Sprintf("00-%032x-%016x-00", i+1, i+1) }
	ctxs := make([]recordCtx, 5)
	for i := range ctxs {
		rec := &kgo.Record{Topic: "t", Key: []byte(fmt.Sprint("k", i)), Offset: int64(i),
			Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte(traceparent(i))}}}
		ctxs[i].Init(context.Background(), rec)
		if err := h(&ctxs[i], &Message{Record: rec, slab: &ctxSlab{}}); err != nil {
			t.Fatal(err)
		}
	}
	for i, ctx := range kept {
		if ctx != context.Context(&ctxs[i]) {
			t.Fatalf("message %d: context %T, want the router's own", i, ctx)
		}
		want := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
			propagation.MapCarrier{"traceparent": traceparent(i)}))
		if got := trace.SpanContextFromContext(ctx); !got.Equal(want) || !got.IsValid() {
			t.Fatalf("message %d: context has %v, want %v", i, got, want)
		}
		if e, ok := event.FromContext(ctx); !ok || e.Key != fmt.Sprint("k", i) {
			t.Fatalf("message %d: context's event %+v, %v", i, e, ok)
		}
	}
}

package pubsub_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestMiddleware: logging, metrics and trace propagation over a two-hop
// flow where the first attempt fails.
func TestMiddleware(t *testing.T) {
	b := pubsubtest.New(t)
	in, out := b.Topic("mw-in", 1), b.Topic("mw-out", 1)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prop := propagation.TraceContext{}
	reg := prometheus.NewRegistry()
	metrics, err := pubsub.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuf
	pub := pubsub.NewPublisher(b.Client(), pubsub.WithPropagator(prop))

	r := newRouter(t, testConfig(b, pubsubtest.Group("mw")))
	r.Use(pubsub.Logging(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		metrics.Middleware(), pubsub.Tracing(tp, prop))
	done := make(chan struct{})
	r.Handle(in, func(ctx context.Context, m *pubsub.Message) error {
		if m.Attempt == 1 {
			return errors.New("first try fails")
		}
		return pub.Publish(ctx, out, seqEvent("k", 1))
	})
	r.Handle(out, func(ctx context.Context, m *pubsub.Message) error { close(done); return nil })
	start(t, r)

	ctx, root := tp.Tracer("test").Start(context.Background(), "root")
	if err := pub.Publish(ctx, in, seqEvent("k", 0)); err != nil {
		t.Fatal(err)
	}
	root.End()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("second hop not handled")
	}

	counter := func(name string) float64 {
		mfs, _ := reg.Gather()
		var got float64
		for _, mf := range mfs {
			if mf.GetName() == name {
				for _, m := range mf.Metric {
					got += m.GetCounter().GetValue()
				}
			}
		}
		return got
	}
	// The second hop's handler returns before its middleware counts it.
	waitFor(t, 5*time.Second, "handled_total 2", func() bool { return counter("herald_pubsub_handled_total") == 2 })
	for name, want := range map[string]float64{"herald_pubsub_failed_total": 1, "herald_pubsub_retried_total": 1} {
		if got := counter(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if s := logs.String(); !strings.Contains(s, "first try fails") || !strings.Contains(s, "pubsub: handled") {
		t.Errorf("logs lack the failure or the success:\n%s", s)
	}
	// One trace: the consumer spans of both hops (3 attempts) continue the
	// root's trace through traceparent headers.
	want := root.SpanContext().TraceID()
	consumers := 0
	for _, s := range exp.GetSpans() {
		if s.SpanKind.String() != "consumer" {
			continue
		}
		consumers++
		if s.SpanContext.TraceID() != want {
			t.Errorf("span %s in trace %s, want %s", s.Name, s.SpanContext.TraceID(), want)
		}
	}
	if consumers != 3 {
		t.Fatalf("got %d consumer spans, want 3", consumers)
	}
}

package pubsub_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/heraldhq/herald/pubsub"
)

// BenchmarkMiddlewareOverhead is the per-message cost of the metrics and
// tracing middleware around a no-op handler, without a broker: the part
// of BenchmarkRouterVsRaw's mw cases that the middleware adds, measured
// without the noise of fetching. none is the baseline. The -router case
// passes the middleware what the router does (its context of the record,
// a Message with the worker's context slab); the others a background
// context and a bare Message.
func BenchmarkMiddlewareOverhead(b *testing.B) {
	metrics, err := pubsub.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	prop := propagation.TraceContext{}
	sampled := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))),
		sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	always := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = sampled.Shutdown(context.Background()); _ = always.Shutdown(context.Background()) })
	unsampled := []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")}}
	for _, bc := range []struct {
		name    string
		headers []kgo.RecordHeader
		mws     []pubsub.Middleware
	}{
		{"none", nil, nil},
		{"metrics", nil, []pubsub.Middleware{metrics.Middleware()}},
		{"tracing-noop", nil, []pubsub.Middleware{pubsub.Tracing(noop.NewTracerProvider(), prop)}},
		{"tracing-unsampled-parent", unsampled, []pubsub.Middleware{pubsub.Tracing(sampled, prop)}},
		{"metrics+tracing-1%-root", nil, []pubsub.Middleware{metrics.Middleware(), pubsub.Tracing(sampled, prop)}},
		{"metrics+tracing-1%-parents", nil, []pubsub.Middleware{metrics.Middleware(), pubsub.Tracing(sampled, prop)}},
		{"metrics+tracing-1%-parents-router", nil, []pubsub.Middleware{metrics.Middleware(), pubsub.Tracing(sampled, prop)}},
		{"metrics+tracing-always", nil, []pubsub.Middleware{metrics.Middleware(), pubsub.Tracing(always, prop)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := pubsub.Chain(func(context.Context, *pubsub.Message) error { return nil }, bc.mws...)
			m := &pubsub.Message{}
			var recordCtx func(context.Context, *kgo.Record) context.Context
			if strings.HasSuffix(bc.name, "-router") {
				recordCtx, m = pubsub.RecordContexts(1024)
			}
			m.Record, m.Attempt, m.Group = &kgo.Record{Topic: "bench", Key: []byte("k"), Value: []byte("v"), Headers: bc.headers}, 1, "g"
			ctx := context.Background()
			b.ReportAllocs()
			// The 1%-parents case: records with a traceparent, one in 100
			// sampled, as BenchmarkRouterVsRaw's mw-sampled.
			parents := strings.Contains(bc.name, "-parents")
			for b.Loop() {
				m.Record.Offset++
				if parents {
					m.Record.Headers = traceHeaders[m.Record.Offset%100]
				}
				c := ctx
				if recordCtx != nil {
					c = recordCtx(ctx, m.Record)
				}
				if err := h(c, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// traceHeaders are traceparent headers of distinct traces, the first
// sampled and the others not.
var traceHeaders = func() (hs [100][]kgo.RecordHeader) {
	for i := range hs {
		tp := fmt.Sprintf("00-%032x-%016x-%02x", i+1, i+1, min(1, 1-min(i, 1)))
		hs[i] = []kgo.RecordHeader{{Key: "traceparent", Value: []byte(tp)}}
	}
	return hs
}()

package pubsub_test

import (
	"context"
	cryptorand "crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// BenchmarkRouterVsRaw compares a Router with a no-op handler against a
// raw kgo consume loop reading the same topic, in the same run. Both join
// a consumer group (the raw loop with kgo's autocommit), poll up to 4096
// records at a time with kgo's default fetch settings, and are timed from
// their first record to their last, so that the group join, which is the
// same fixed cost for both, does not count. The metrics are records/s of
// each and router/raw (goal >= 0.8). The sub-benchmark mw runs the router
// with the Metrics and Tracing middleware on (an SDK tracer provider that
// samples every span, with no exporter).
func BenchmarkRouterVsRaw(b *testing.B) {
	const records, partitions, keys = 300_000, 4, 1000
	br := pubsubtest.New(b)
	topic := br.Topic("bench", partitions)
	prod := br.Client(kgo.ProducerLinger(5 * time.Millisecond))
	// Random values, so that batches do not compress to nothing and the
	// records take several fetches, as real data does.
	vals := make([]byte, records*100)
	cryptorand.Read(vals)
	for i := range records {
		prod.Produce(context.Background(), &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%keys), Value: vals[i*100 : (i+1)*100]}, nil)
	}
	if err := prod.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	metrics, err := pubsub.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	for _, bc := range []struct {
		name string
		mws  []pubsub.Middleware
	}{
		{"plain", nil},
		{"mw", []pubsub.Middleware{metrics.Middleware(), pubsub.Tracing(tp, propagation.TraceContext{})}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var rawRate, routerRate float64
			for range b.N {
				rawRate += rawConsume(b, br, topic, records)
				routerRate += routerConsume(b, br, topic, records, bc.mws...)
			}
			b.ReportMetric(rawRate/float64(b.N), "raw-rec/s")
			b.ReportMetric(routerRate/float64(b.N), "router-rec/s")
			b.ReportMetric(routerRate/rawRate, "router/raw")
		})
	}
}

func rawConsume(b *testing.B, br *pubsubtest.Broker, topic string, n int) float64 {
	// A group consumer, as a hand-written service would be.
	cl := br.Client(kgo.ConsumeTopics(topic), kgo.ConsumerGroup(pubsubtest.Group("raw")),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	var first time.Time
	t0 := time.Now()
	got := 0
	for got < n {
		fs := cl.PollRecords(context.Background(), 4096) // the router's default
		if err := fs.Err0(); err != nil {
			b.Fatal(err)
		}
		if first.IsZero() && !fs.Empty() {
			first = time.Now()
		}
		fs.EachRecord(func(*kgo.Record) { got++ })
	}
	b.Logf("raw:    join %v, consume %v", first.Sub(t0), time.Since(first))
	return float64(n) / time.Since(first).Seconds()
}

func routerConsume(b *testing.B, br *pubsubtest.Broker, topic string, n int, mws ...pubsub.Middleware) float64 {
	r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: br.Seeds, Group: pubsubtest.Group("bench"), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	r.Use(mws...)
	var got atomic.Int64
	var first atomic.Pointer[time.Time]
	done := make(chan time.Time, 1)
	r.Handle(topic, func(context.Context, *pubsub.Message) error {
		switch got.Add(1) {
		case 1:
			now := time.Now()
			first.Store(&now)
		case int64(n):
			done <- time.Now()
		}
		return nil
	})
	errc := make(chan error, 1)
	t0 := time.Now()
	go func() { errc <- r.Run(context.Background()) }()
	end := <-done
	start := *first.Load()
	b.Logf("router: join %v, consume %v", start.Sub(t0), end.Sub(start))
	_ = r.Close()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return float64(n) / end.Sub(start).Seconds()
}

package pubsub_test

import (
	"context"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// BenchmarkRouterVsRaw compares a Router with a no-op handler against a
// raw kgo consume loop reading the same topic, in the same run, with the
// same guarantee: each record is handled at least once, in offset order
// per key, and its offset committed only after it is handled. Both read
// the same records, join a consumer group, poll up to 4096 records at a
// time with kgo's default fetch settings, and are timed from their first
// record to their last, so that the group join, which is the same fixed
// cost for both, does not count. The metrics are records/s of each and
// router/raw (goal >= 0.8).
//
// What each side does per record:
//
//	raw     the loop a user writes for that guarantee: poll, decode the
//	        record's event as the router does (event.FromRecord for a
//	        record with headers, else an event of its key and value),
//	        call the no-op handler with it, one record after another;
//	        after each poll mark the partitions' last records, which
//	        kgo's AutoCommitMarks commits every second (the router's
//	        CommitInterval) and at a rebalance (BlockRebalanceOnPoll, so
//	        that a rebalance waits for the poll's records)
//	router  its defaults: the same decoding, a lead per partition that
//	        runs the records itself while the handler is fast and hands
//	        them to 16 workers (sharded by key hash, so that different
//	        keys run concurrently) while it is slow or blocks, completion
//	        tracking per record, commits every
//	        second of the offset below the lowest record not handled,
//	        plus its attempt record (the dispatch mark committed ahead of
//	        the records, so that attempts survive a crash), which the raw
//	        loop does not keep; and the middleware of the case
//
// The cases:
//
//	plain        no middleware
//	plain-traced no middleware, on the records of mw-sampled (with a
//	             traceparent header each): its baseline
//	mw-sampled   RouterConfig.Metrics and Tracing, records carrying the
//	             traceparent of producers that sample 1% of traces, an SDK
//	             tracer provider that follows them (ParentBased) and
//	             exports the sampled spans in batches to an in-memory
//	             exporter: tracing as it is usually deployed
//	mw-always    RouterConfig.Metrics and Tracing, records without trace
//	             context, a provider that samples every span (a root per
//	             record) into the in-memory exporter: the worst case
//
// The machine's load changes from run to run; raw and router runs
// alternate within an iteration so that each ratio compares runs made
// under the same load. Run it with -count 3 or more and take medians.
func BenchmarkRouterVsRaw(b *testing.B) {
	const records, partitions, keys = 300_000, 4, 1000
	br := pubsubtest.New(b)
	plainTopic := br.Topic("bench", partitions)
	tracedTopic := br.Topic("bench-traced", partitions)
	prod := br.Client(kgo.ProducerLinger(5 * time.Millisecond))
	// Random values, so that batches do not compress to nothing and the
	// records take several fetches, as real data does.
	vals := make([]byte, records*100)
	cryptorand.Read(vals)
	ids := make([]byte, 24)
	for i := range records {
		key, val := fmt.Appendf(nil, "k%d", i%keys), vals[i*100:(i+1)*100]
		prod.Produce(context.Background(), &kgo.Record{Topic: plainTopic, Key: key, Value: val}, nil)
		cryptorand.Read(ids)
		flags := 0
		if i%100 == 0 {
			flags = 1
		}
		tp := fmt.Appendf(nil, "00-%x-%x-%02x", ids[:16], ids[16:], flags)
		prod.Produce(context.Background(), &kgo.Record{Topic: tracedTopic, Key: key, Value: val,
			Headers: []kgo.RecordHeader{{Key: "traceparent", Value: tp}}}, nil)
	}
	if err := prod.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	metrics, err := pubsub.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	exp := tracetest.NewInMemoryExporter()
	sampled := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))), sdktrace.WithBatcher(exp))
	always := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(exp))
	b.Cleanup(func() { _ = sampled.Shutdown(context.Background()); _ = always.Shutdown(context.Background()) })
	prop := propagation.TraceContext{}
	for _, bc := range []struct {
		name    string
		topic   string
		metrics *pubsub.Metrics
		mws     []pubsub.Middleware
	}{
		{"plain", plainTopic, nil, nil},
		{"plain-traced", tracedTopic, nil, nil},
		{"mw-sampled", tracedTopic, metrics, []pubsub.Middleware{pubsub.Tracing(sampled, prop)}},
		{"mw-always", plainTopic, metrics, []pubsub.Middleware{pubsub.Tracing(always, prop)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var rawRate, routerRate float64
			var rawCPU, routerCPU time.Duration
			for range b.N {
				c0 := processCPU()
				rawRate += rawConsume(b, br, bc.topic, records)
				c1 := processCPU()
				routerRate += routerConsume(b, br, bc.topic, records, bc.metrics, bc.mws...)
				c2 := processCPU()
				rawCPU, routerCPU = rawCPU+c1-c0, routerCPU+c2-c1
				exp.Reset()
			}
			b.ReportMetric(rawRate/float64(b.N), "raw-rec/s")
			b.ReportMetric(routerRate/float64(b.N), "router-rec/s")
			b.ReportMetric(routerRate/rawRate, "router/raw")
			// The process's CPU time (broker included) per record, from
			// the client's creation to its close: steadier than the rates
			// when the machine is loaded.
			b.ReportMetric(float64(rawCPU.Nanoseconds())/float64(b.N*records), "raw-cpu-ns/rec")
			b.ReportMetric(float64(routerCPU.Nanoseconds())/float64(b.N*records), "router-cpu-ns/rec")
		})
	}
}

// processCPU is the CPU time the process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rawConsume(b *testing.B, br *pubsubtest.Broker, topic string, n int) float64 {
	cl := br.Client(kgo.ConsumeTopics(topic), kgo.ConsumerGroup(pubsubtest.Group("raw")),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AutoCommitMarks(), kgo.AutoCommitInterval(time.Second), kgo.BlockRebalanceOnPoll())
	defer cl.Close()
	ctx := context.Background()
	var first time.Time
	t0 := time.Now()
	got := 0
	for got < n {
		fs := cl.PollRecords(ctx, 4096) // the router's default
		if err := fs.Err0(); err != nil {
			b.Fatal(err)
		}
		if first.IsZero() && !fs.Empty() {
			first = time.Now()
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, rec := range p.Records {
				if err := rawHandler(ctx, rawEvent(rec)); err != nil {
					b.Fatal(err)
				}
				got++
			}
			if len(p.Records) > 0 {
				cl.MarkCommitRecords(p.Records[len(p.Records)-1])
			}
		})
		cl.AllowRebalance()
	}
	b.Logf("raw:    join %v, consume %v", first.Sub(t0), time.Since(first))
	return float64(n) / time.Since(first).Seconds()
}

// rawHandler is the raw loop's no-op handler, called through a variable
// as a user's would be.
var rawHandler = func(context.Context, event.Event) error { return nil }

// rawEvent decodes rec's event as the router does.
func rawEvent(rec *kgo.Record) event.Event {
	if len(rec.Headers) > 0 {
		if e, err := event.FromRecord(rec); !errors.Is(err, event.ErrNotEvent) {
			return e
		}
	}
	return event.Event{Key: string(rec.Key), Data: rec.Value}
}

func routerConsume(b *testing.B, br *pubsubtest.Broker, topic string, n int, metrics *pubsub.Metrics, mws ...pubsub.Middleware) float64 {
	r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: br.Seeds, Group: pubsubtest.Group("bench"), Logger: quiet, Metrics: metrics})
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

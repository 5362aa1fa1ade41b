package pubsub_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// BenchmarkRouterVsRaw compares a Router with a no-op handler against a
// raw kgo consume loop reading the same topic, in the same run. Both are
// timed from the client's start to the last record, and both join a
// consumer group (the raw loop with kgo's autocommit). The metrics are records/s
// of each and router/raw (goal >= 0.8).
func BenchmarkRouterVsRaw(b *testing.B) {
	const records, partitions, keys = 300_000, 4, 1000
	br := pubsubtest.New(b)
	topic := br.Topic("bench", partitions)
	prod := br.Client(kgo.ProducerLinger(5 * time.Millisecond))
	for i := range records {
		prod.Produce(context.Background(), &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%keys), Value: make([]byte, 100)}, nil)
	}
	if err := prod.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var rawRate, routerRate float64
	for range b.N {
		rawRate += rawConsume(b, br, topic, records)
		routerRate += routerConsume(b, br, topic, records)
	}
	b.ReportMetric(rawRate/float64(b.N), "raw-rec/s")
	b.ReportMetric(routerRate/float64(b.N), "router-rec/s")
	b.ReportMetric(routerRate/rawRate, "router/raw")
}

func rawConsume(b *testing.B, br *pubsubtest.Broker, topic string, n int) float64 {
	start := time.Now()
	// A group consumer, as a hand-written service would be: both sides
	// pay for joining a group.
	cl := br.Client(kgo.ConsumeTopics(topic), kgo.ConsumerGroup(pubsubtest.Group("raw")),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	first := start
	got := 0
	for got < n {
		fs := cl.PollRecords(context.Background(), 10000)
		if err := fs.Err0(); err != nil {
			b.Fatal(err)
		}
		fs.EachRecord(func(*kgo.Record) { got++ })
	}
	return float64(n) / time.Since(first).Seconds()
}

func routerConsume(b *testing.B, br *pubsubtest.Broker, topic string, n int) float64 {
	r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: br.Seeds, Group: pubsubtest.Group("bench"), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	done := make(chan time.Time, 1)
	r.Handle(topic, func(context.Context, *pubsub.Message) error {
		if got.Add(1) == int64(n) {
			done <- time.Now()
		}
		return nil
	})
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- r.Run(context.Background()) }()
	end := <-done
	_ = r.Close()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return float64(n) / end.Sub(start).Seconds()
}

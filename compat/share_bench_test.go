package compat

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkShareVsClassic consumes the same records two ways on one
// Herald (durability "always"), in one run so the two are comparable:
//
//	share-8x1    8 share-group consumers on 1 partition (every record
//	             acquired, locked and accepted; the state persisted)
//	classic-8x8  8 consumer-group members on 8 partitions (one each)
//
// One op is one record consumed; records/s is the figure to compare.
// The time runs from the consumers' start (joins included) until every
// record is consumed. Run with a fixed count, e.g.:
//
//	go test ./compat -run '^$' -bench ShareVsClassic -benchtime 200000x
func BenchmarkShareVsClassic(b *testing.B) {
	tg := startBroker(b)
	for _, c := range []struct {
		name       string
		partitions int32
		opts       func(topic, group string) []kgo.Opt
	}{
		{"share-8x1", 1, func(topic, group string) []kgo.Opt {
			return []kgo.Opt{kgo.ShareGroup(group), kgo.ConsumeTopics(topic)}
		}},
		{"classic-8x8", 8, func(topic, group string) []kgo.Opt {
			return []kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			topic, group := topicName(b), topicName(b, "group")
			createTopic(b, tg, topic, c.partitions, nil)
			admin := newKgo(b, tg, kgo.ProducerLinger(5*time.Millisecond))
			if c.partitions == 1 {
				setShareConfigs(b, admin, group, "share.auto.offset.reset", "earliest")
			}
			produceBench(b, admin, topic, b.N)
			b.ResetTimer()
			consumeWith(b, tg, 8, b.N, c.opts(topic, group))
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// produceBench produces n 100-byte records round-robin over the
// partitions.
func produceBench(b *testing.B, cl *kgo.Client, topic string, n int) {
	b.Helper()
	value := make([]byte, 100)
	var failed atomic.Value
	for range n {
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Store(err)
			}
		})
	}
	if err := cl.Flush(testCtx(b, time.Minute)); err != nil {
		b.Fatal(err)
	}
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

// consumeWith runs consumers clients with opts until n records are
// consumed between them.
func consumeWith(b *testing.B, tg target, consumers, n int, opts []kgo.Opt) {
	b.Helper()
	var got atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for range consumers {
		cl := newKgo(b, tg, opts...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for got.Load() < int64(n) && ctx.Err() == nil {
				pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
				got.Add(int64(len(cl.PollFetches(pctx).Records())))
				pcancel()
			}
		}()
	}
	wg.Wait()
	if got.Load() < int64(n) {
		b.Fatalf("consumed %d of %d records", got.Load(), n)
	}
}

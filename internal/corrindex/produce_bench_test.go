package corrindex_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/heraldtestutil"
	"github.com/heraldhq/herald/internal/server"
)

// BenchmarkProduceIndexed is what the correlation index costs producers:
// batches of 1,000 CloudEvents records of 1 KiB produced with franz-go to
// two brokers side by side, one without the index and one with it tailing
// the topic, alternating batch by batch so that both see the same machine
// load. One op is one batch to each; off-ms and on-ms are the mean time
// of a batch, and on/off their ratio (1.0: no cost). The indexer may run
// while the other broker has its turn: this is the cost to producers on a
// machine with time to spare between batches, not at saturation (run the
// two brokers one after the other for that, and mind the machine's load).
//
//	go test ./internal/corrindex -run '^$' -bench ProduceIndexed -benchtime 2000x -count 3
//
// BENCH_DURABILITY sets the brokers' durability (default always).
func BenchmarkProduceIndexed(b *testing.B) {
	ctx := context.Background()
	clients := map[bool]*kgo.Client{}
	for _, on := range []bool{false, true} {
		br := heraldtest.NewBroker(b, heraldtest.WithTopics(1, "bench"), heraldtest.WithDurability(os.Getenv("BENCH_DURABILITY")),
			heraldtestutil.WithConfig(func(c *server.Config) { c.CorrelationIndex = on }))
		kcl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ProducerLinger(0))
		if err != nil {
			b.Fatal(err)
		}
		defer kcl.Close()
		clients[on] = kcl
	}
	value := bytes.Repeat([]byte("v"), 1024)
	batch := make([]*kgo.Record, 1000)
	n := 0
	produce := func(kcl *kgo.Client) time.Duration {
		for i := range batch {
			id := strconv.Itoa(n)
			n++
			batch[i] = &kgo.Record{Topic: "bench", Value: value, Headers: []kgo.RecordHeader{
				{Key: "ce_id", Value: []byte("e-" + id)}, {Key: "ce_correlationid", Value: []byte("c-" + strconv.Itoa(n/3))},
				{Key: "ce_type", Value: []byte("bench.v1")}}}
		}
		start := time.Now()
		if err := kcl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var took [2]time.Duration // [off, on]
	b.SetBytes(int64(2 * len(batch) * len(value)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		order := []bool{false, true}
		if i%2 == 1 {
			order = []bool{true, false}
		}
		i++
		for _, on := range order {
			d := produce(clients[on])
			if on {
				took[1] += d
			} else {
				took[0] += d
			}
		}
	}
	off, on := took[0].Seconds()*1000/float64(i), took[1].Seconds()*1000/float64(i)
	b.ReportMetric(off, "off-ms")
	b.ReportMetric(on, "on-ms")
	b.ReportMetric(on/off, "on/off")
}

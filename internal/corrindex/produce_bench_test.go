package corrindex_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/heraldtestutil"
	"github.com/heraldhq/herald/internal/server"
)

// BenchmarkProduceIndexed is what the correlation index costs producers:
// batches of 1,000 CloudEvents records of 1 KiB produced with franz-go to
// a broker without the index ("off") and with it tailing the topic ("on"),
// in the same run. One op is one batch.
//
//	go test ./internal/corrindex -run '^$' -bench ProduceIndexed -benchtime 5s -count 3
func BenchmarkProduceIndexed(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := map[bool]string{false: "off", true: "on"}[on]
		b.Run(name, func(b *testing.B) {
			br := heraldtest.NewBroker(b, heraldtest.WithTopics(1, "bench"), heraldtest.WithDurability(os.Getenv("BENCH_DURABILITY")),
				heraldtestutil.WithConfig(func(c *server.Config) { c.CorrelationIndex = on }))
			kcl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ProducerLinger(0))
			if err != nil {
				b.Fatal(err)
			}
			defer kcl.Close()
			value := bytes.Repeat([]byte("v"), 1024)
			batch := make([]*kgo.Record, 1000)
			n := 0
			b.SetBytes(int64(len(batch) * len(value)))
			b.ReportAllocs()
			for b.Loop() {
				for i := range batch {
					id := strconv.Itoa(n)
					n++
					batch[i] = &kgo.Record{Topic: "bench", Value: value, Headers: []kgo.RecordHeader{
						{Key: "ce_id", Value: []byte("e-" + id)}, {Key: "ce_correlationid", Value: []byte("c-" + strconv.Itoa(n/3))},
						{Key: "ce_type", Value: []byte("bench.v1")}}}
				}
				if err := kcl.ProduceSync(context.Background(), batch...).FirstErr(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

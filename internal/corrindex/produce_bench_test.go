package corrindex_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/corrindex"
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
// machine with time to spare between batches, not at saturation
// (BenchmarkProduceIndexedFullLoad measures that).
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

// BenchmarkProduceIndexedFullLoad is what the correlation index costs
// producers at full load. One broker, one topic, one client: blocks of
// 10,000 CloudEvents records of 1 KiB produced as fast as franz-go sends
// them (asynchronous, many batches in flight), alternately without an
// index (A) and with one open on the broker (B), as herald serve opens
// it, its indexer tailing the log beside the producer. Two brokers side
// by side, one with and one without, do not give a trustworthy figure
// here: with the index off on both (A/A) their throughputs differed by up
// to 35% in a run, more than the effect. Around each B block, untimed:
// the index is opened, caught up with what the A blocks appended, its
// memtable flushed and its compactions done (Settle: so B's block starts
// with no index work pending, as A's does after Close), and after the
// block caught up again (catchup-ms: what the indexer had not yet done
// when the producer finished) and closed. The order is A/B then B/A, op
// by op.
//
// off-MB/s and on-MB/s are the throughputs over all blocks, on/off their
// ratio (1.0: no cost), median-quad-on/off the median of the ratios of
// each two ops in a row (A,B then B,A: a block's position after the other
// kind cancels; a load spike from elsewhere on the machine hits one quad,
// not the median; use an even -benchtime).
//
//	go test ./internal/corrindex -run '^$' -bench ProduceIndexedFullLoad -benchtime 20x -count 5
//
// BENCH_DURABILITY sets the broker's durability (default always);
// BENCH_AA=1 never opens the index: the harness's own bias (the ratios
// should be 1 within the noise).
func BenchmarkProduceIndexedFullLoad(b *testing.B) {
	ctx := context.Background()
	const blockRecords = 10_000
	aa := os.Getenv("BENCH_AA") == "1"
	br := heraldtest.NewBroker(b, heraldtest.WithTopics(1, "bench"), heraldtest.WithDurability(os.Getenv("BENCH_DURABILITY")),
		heraldtestutil.WithConfig(func(c *server.Config) { c.CorrelationIndex = false }))
	kcl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.MaxBufferedRecords(blockRecords))
	if err != nil {
		b.Fatal(err)
	}
	defer kcl.Close()
	icfg := corrindex.Config{Dir: filepath.Join(b.TempDir(), "index"), Broker: heraldtestutil.Server(br).Broker(),
		Logger: slog.New(slog.DiscardHandler)}
	var x *corrindex.Index
	open := func() {
		if aa {
			return
		}
		if x, err = corrindex.Open(icfg); err != nil {
			b.Fatal(err)
		}
		if err := x.Settle(); err != nil {
			b.Fatal(err)
		}
	}
	var catchUp time.Duration
	closeIndex := func() {
		if aa {
			return
		}
		start := time.Now()
		if err := x.CatchUp(); err != nil {
			b.Fatal(err)
		}
		catchUp += time.Since(start)
		if err := x.Close(); err != nil {
			b.Fatal(err)
		}
	}

	value := bytes.Repeat([]byte("v"), 1024)
	recs := make([]kgo.Record, blockRecords)
	n := 0
	block := func() time.Duration {
		for i := range recs {
			id := "e-" + strconv.Itoa(n)
			n++
			recs[i] = kgo.Record{Topic: "bench", Value: value, Headers: []kgo.RecordHeader{
				{Key: "ce_id", Value: []byte(id)}, {Key: "ce_correlationid", Value: []byte("c-" + strconv.Itoa(n/3))},
				{Key: "ce_type", Value: []byte("bench.v1")}}}
		}
		var wg sync.WaitGroup
		var failed atomic.Pointer[error]
		wg.Add(len(recs))
		start := time.Now()
		for i := range recs {
			kcl.Produce(ctx, &recs[i], func(_ *kgo.Record, err error) {
				if err != nil {
					failed.CompareAndSwap(nil, &err)
				}
				wg.Done()
			})
		}
		wg.Wait()
		took := time.Since(start)
		if err := failed.Load(); err != nil {
			b.Fatal(*err)
		}
		return took
	}
	run := func(on bool) time.Duration {
		if !on {
			return block()
		}
		open()
		d := block()
		closeIndex()
		return d
	}
	// Warm up (connections, metadata, the first segment, the index's
	// first open): the very first blocks are much slower than the rest.
	run(false)
	run(true)
	catchUp = 0

	var took [2]time.Duration // off, on
	var quad [2]time.Duration // the current quad's
	var quads []float64       // on/off throughput of each quad
	b.SetBytes(int64(2 * blockRecords * len(value)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		order := []bool{false, true}
		if i%2 == 1 {
			order = []bool{true, false}
		}
		i++
		for _, on := range order {
			d := run(on)
			k := 0
			if on {
				k = 1
			}
			took[k] += d
			quad[k] += d
		}
		if i%2 == 0 {
			quads = append(quads, quad[0].Seconds()/quad[1].Seconds())
			quad = [2]time.Duration{}
		}
	}
	mb := float64(i*blockRecords*len(value)) / 1e6
	off, on := mb/took[0].Seconds(), mb/took[1].Seconds()
	b.ReportMetric(off, "off-MB/s")
	b.ReportMetric(on, "on-MB/s")
	b.ReportMetric(on/off, "on/off")
	if len(quads) > 0 {
		slices.Sort(quads)
		m := quads[len(quads)/2]
		if len(quads)%2 == 0 {
			m = (quads[len(quads)/2-1] + m) / 2
		}
		b.ReportMetric(m, "median-quad-on/off")
	}
	b.ReportMetric(catchUp.Seconds()*1000/float64(i), "catchup-ms")
}

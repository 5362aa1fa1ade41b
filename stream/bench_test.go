package stream_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/stream"
)

// benchRecords is the input size of the benchmarks: 200,000 by default,
// STREAM_BENCH_RECORDS=1000000 for the figures of the issue.
func benchRecords(b *testing.B) int {
	if s := os.Getenv("STREAM_BENCH_RECORDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("STREAM_BENCH_RECORDS=%q", s)
		}
		return n
	}
	return 200_000
}

// benchCommitInterval is the Apps' CommitInterval: the default (0),
// or STREAM_BENCH_COMMIT_MS milliseconds. A shorter one dedupes fewer
// writes of a key per changelog record.
func benchCommitInterval(b *testing.B) time.Duration {
	s := os.Getenv("STREAM_BENCH_COMMIT_MS")
	if s == "" {
		return 0
	}
	ms, err := strconv.Atoi(s)
	if err != nil || ms <= 0 {
		b.Fatalf("STREAM_BENCH_COMMIT_MS=%q", s)
	}
	return time.Duration(ms) * time.Millisecond
}

const benchKeys = 10_000

// benchInput starts a broker with topic "in" (4 partitions) holding n
// records over benchKeys keys, one millisecond of event time apart.
func benchInput(b *testing.B, n int) *heraldtest.Broker {
	br := heraldtest.NewBroker(b, heraldtest.WithDurability("none"), heraldtest.WithTopics(4, "in"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic("in"), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	base := time.UnixMilli(1_700_000_000_000)
	for i := range n {
		r := &kgo.Record{Key: fmt.Appendf(nil, "key-%05d", i%benchKeys), Value: []byte("v"), Timestamp: base.Add(time.Duration(i) * time.Millisecond)}
		cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	return br
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs f, which processes n records and calls started when its
// client has read the first batch of them from the broker, and returns
// records/s and records per CPU-second from then to the end (steady
// state: group join, topic creation and store opening are left out of
// both sides, and both count the fetching; the broker is included in the
// CPU time, as it runs in this process).
func measure(n int, f func(started func())) (perSec, perCPU float64) {
	var cpu0 time.Duration
	var t0 time.Time
	f(func() { cpu0, t0 = cpuTime(), time.Now() })
	wall, cpu := time.Since(t0), cpuTime()-cpu0
	return float64(n) / wall.Seconds(), float64(n) / cpu.Seconds()
}

// sideBySide runs the raw loop, the stream App and the raw loop again on
// the same input, and reports both rates and the App's as a ratio of the
// raw loop's mean.
func sideBySide(b *testing.B, n int, raw, app func(run string, started func())) {
	for i := range b.N {
		run := fmt.Sprintf("%d-%d", i, time.Now().UnixNano())
		r1, r1cpu := measure(n, func(started func()) { raw("a"+run, started) })
		s, scpu := measure(n, func(started func()) { app(run, started) })
		r2, r2cpu := measure(n, func(started func()) { raw("b"+run, started) })
		rawRate, rawCPU := (r1+r2)/2, (r1cpu+r2cpu)/2
		b.ReportMetric(rawRate, "raw-records/s")
		b.ReportMetric(s, "stream-records/s")
		b.ReportMetric(s/rawRate, "ratio")
		b.ReportMetric(rawCPU, "raw-records/cpu-s")
		b.ReportMetric(scpu, "stream-records/cpu-s")
		b.ReportMetric(scpu/rawCPU, "cpu-ratio")
		b.ReportMetric(0, "ns/op")
	}
}

// rawLoop is the peer: a hand-written franz-go group consumer that folds
// each record into a Go map with key(r) until it has seen n records.
func rawLoop(b *testing.B, addr, group string, n int, started func(), key func(r *kgo.Record) string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics("in"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithHooks(&firstFetch{f: started}))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	counts := map[string]int64{}
	seen := 0
	for seen < n {
		fs := cl.PollFetches(context.Background())
		if err := fs.Err0(); err != nil {
			b.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			counts[key(r)]++
			seen++
		})
	}
	if err := cl.CommitUncommittedOffsets(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// firstFetch calls f once, when its client has read the first batch of
// topic "in" from the broker.
type firstFetch struct {
	once sync.Once
	f    func()
}

func (h *firstFetch) OnFetchBatchRead(_ kgo.BrokerMetadata, topic string, _ int32, _ kgo.FetchBatchMetrics) {
	if topic == "in" {
		h.once.Do(h.f)
	}
}

// runApp runs top until its tasks have consumed n records.
func runApp(b *testing.B, top *stream.Topology, addr, id string, n int, started func()) {
	a, err := stream.New(top, stream.Config{AppID: id, Brokers: []string{addr}, StateDir: b.TempDir(), Logger: quiet(),
		CommitInterval: benchCommitInterval(b), ClientOpts: []kgo.Opt{kgo.WithHooks(&firstFetch{f: started})}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	for {
		var in int64
		for _, m := range a.Metrics() {
			in += m.RecordsIn
		}
		if in >= int64(n) {
			break
		}
		select {
		case err := <-done:
			b.Fatalf("Run: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkKeyedCount: a keyed count of benchRecords records, the stream
// App (pebble state, changelog on) against the raw loop, in one run.
//
//	STREAM_BENCH_RECORDS=1000000 go test ./stream -run '^$' -bench KeyedCount -benchtime 1x -count 3
func BenchmarkKeyedCount(b *testing.B) {
	n := benchRecords(b)
	br := benchInput(b, n)
	sideBySide(b, n, func(run string, started func()) {
		rawLoop(b, br.Addr(), "raw-"+run, n, started, func(r *kgo.Record) string { return string(r.Key) })
	}, func(run string, started func()) {
		top := stream.NewTopology()
		stream.Count(stream.GroupByKey(stream.Source(top, "in", stream.Bytes(), stream.Bytes()), stream.Bytes(), stream.Bytes()), "counts")
		runApp(b, top, br.Addr(), "count-"+run, n, started)
	})
	b.Logf("GOMAXPROCS=%d", runtime.GOMAXPROCS(0))
}

// BenchmarkTumblingWindow: a count per key in 1-minute tumbling windows
// with 10s grace, the stream App against the raw loop keyed by key and
// window start, in one run.
//
//	STREAM_BENCH_RECORDS=1000000 go test ./stream -run '^$' -bench TumblingWindow -benchtime 1x -count 3
func BenchmarkTumblingWindow(b *testing.B) {
	n := benchRecords(b)
	br := benchInput(b, n)
	sideBySide(b, n, func(run string, started func()) {
		rawLoop(b, br.Addr(), "raw-"+run, n, started, func(r *kgo.Record) string {
			ts := r.Timestamp.UnixMilli()
			return string(r.Key) + "@" + strconv.FormatInt(ts-ts%60_000, 10)
		})
	}, func(run string, started func()) {
		top := stream.NewTopology()
		g := stream.GroupByKey(stream.Source(top, "in", stream.Bytes(), stream.Bytes()), stream.Bytes(), stream.Bytes())
		stream.WindowedCount(g, stream.Tumbling(time.Minute).Grace(10*time.Second), "win")
		runApp(b, top, br.Addr(), "win-"+run, n, started)
	})
}

// BenchmarkRestore: an App starts with an empty state dir over a
// changelog of benchRecords keys (one partition) and restores it into
// pebble before processing; reported as the time to restore and keys/s.
//
//	STREAM_BENCH_RECORDS=1000000 go test ./stream -run '^$' -bench Restore -benchtime 1x
func BenchmarkRestore(b *testing.B) {
	n := benchRecords(b)
	br := heraldtest.NewBroker(b, heraldtest.WithDurability("none"), heraldtest.WithTopics(1, "in"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": new("compact")}, "rb-table-changelog"); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Topic: "rb-table-changelog", Key: fmt.Appendf(nil, "key-%08d", i), Value: []byte("value-01")}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		top := stream.NewTopology()
		stream.TableOf(top, "in", "table", stream.String(), stream.String())
		a, err := stream.New(top, stream.Config{AppID: "rb", Brokers: []string{br.Addr()}, StateDir: b.TempDir(), Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		t0 := time.Now()
		go func() { done <- a.Run(rctx) }()
		for restored := int64(0); restored < int64(n); {
			restored = 0
			for _, m := range a.Metrics() {
				restored += m.Restored
			}
			select {
			case err := <-done:
				b.Fatalf("Run: %v", err)
			case <-time.After(10 * time.Millisecond):
			}
		}
		took := time.Since(t0)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(took.Seconds(), "s-to-restore")
		b.ReportMetric(float64(n)/took.Seconds(), "keys/s")
		b.ReportMetric(0, "ns/op")
	}
}

// BenchmarkSessionWindow: a count per key in session windows (15s gap,
// 10s grace: each key's records, 10s apart, extend one session) against
// the raw loop's keyed count, in one run. Each record reads the key's
// sessions in a range and closing reads the sessions by end, so this
// measures the store's range scans over a write cache that grows
// between commits. It also reports changelog-records/input: the records
// the App wrote to the store's changelog per input record.
//
//	go test ./stream -run '^$' -bench SessionWindow -benchtime 1x -count 3
func BenchmarkSessionWindow(b *testing.B) {
	n := benchRecords(b)
	br := benchInput(b, n)
	var changelog int64 // records the App wrote to its changelog, over all runs
	sideBySide(b, n, func(run string, started func()) {
		rawLoop(b, br.Addr(), "raw-"+run, n, started, func(r *kgo.Record) string { return string(r.Key) })
	}, func(run string, started func()) {
		top := stream.NewTopology()
		g := stream.GroupByKey(stream.Source(top, "in", stream.Bytes(), stream.Bytes()), stream.Bytes(), stream.Bytes())
		stream.SessionCount(g, stream.SessionWindows{Gap: 15 * time.Second, Grace: 10 * time.Second}, "sessions")
		runApp(b, top, br.Addr(), "session-"+run, n, started)
		changelog += changelogRecords(b, br.Addr(), "session-"+run+"-sessions-changelog")
	})
	b.ReportMetric(float64(changelog)/float64(n*b.N), "changelog-records/input")
}

// changelogRecords is the number of records produced to topic (the sum
// of its partitions' end offsets; no transactions, so no markers).
func changelogRecords(b *testing.B, addr, topic string) int64 {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		b.Fatal(err)
	}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			b.Fatalf("end offset %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		sum += o.Offset
	})
	if sum == 0 {
		b.Fatalf("changelog %s is empty", topic)
	}
	return sum
}

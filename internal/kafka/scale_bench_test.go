package kafka

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/broker"
)

// TestScalePartitions is the partitions-at-scale benchmark (make
// bench-partitions), not part of make test: HERALD_SCALE_PARTITIONS
// partitions over HERALD_SCALE_TOPICS topics (default 1,000), in this
// process with RLIMIT_NOFILE lowered to 1,024 (soft and hard). It prints
// the create time, the restart time, the peak RSS (VmHWM, this process:
// broker and client), and the time to produce one record to each of a
// random 1% of the partitions and to consume them back, before and after
// the restart.
func TestScalePartitions(t *testing.T) {
	total, _ := strconv.Atoi(os.Getenv("HERALD_SCALE_PARTITIONS"))
	if total <= 0 {
		t.Skip("set HERALD_SCALE_PARTITIONS (make bench-partitions)")
	}
	topics := 1000
	if n, _ := strconv.Atoi(os.Getenv("HERALD_SCALE_TOPICS")); n > 0 {
		topics = n
	}
	per := total / topics
	if per < 1 {
		t.Fatalf("%d partitions over %d topics", total, topics)
	}
	total = per * topics
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 1024, Max: 1024}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	report := func(what string, v any) { fmt.Printf("%-34s %v\n", what, v) }
	report("partitions", fmt.Sprintf("%d (%d topics x %d)", total, topics, per))

	b, addr, stop := startScaleServer(t, dir)
	cl := scaleClient(t, addr)
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(600_000)
	ctx := context.Background()
	names := make([]string, topics)
	for i := range names {
		names[i] = fmt.Sprintf("scale-%04d", i)
	}
	start := time.Now()
	for i := 0; i < topics; i += 50 {
		resp, err := adm.CreateTopics(ctx, int32(per), 1, nil, names[i:min(i+50, topics)]...)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("create: %v", err)
		}
	}
	report("create", time.Since(start).Round(time.Millisecond))
	report("create per partition", (time.Since(start) / time.Duration(total)).Round(time.Microsecond))

	sample := make(map[string][]int32)
	for range max(total/100, 1) {
		i := rand.IntN(total)
		sample[names[i/per]] = append(sample[names[i/per]], int32(i%per))
	}
	n := produceConsume(t, cl, sample, report, "")
	cl.Close()
	report("segment files (open/max/opens/evictions)", fileStats(b))
	start = time.Now()
	stop()
	report("close", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	b, addr, stop = startScaleServer(t, dir)
	report("restart (open every partition)", time.Since(start).Round(time.Millisecond))
	defer stop()
	if got := len(b.Topics()); got < topics {
		t.Fatalf("%d topics after restart", got)
	}
	cl = scaleClient(t, addr)
	defer cl.Close()
	if m := produceConsume(t, cl, sample, report, " after restart"); m != 2*n {
		t.Fatalf("consumed %d records after restart, want %d", m, 2*n)
	}
	report("segment files (open/max/opens/evictions)", fileStats(b))
	report("goroutines", runtime.NumGoroutine())
	report("peak RSS (VmHWM)", procStatus("VmHWM"))
	report("RSS now (VmRSS)", procStatus("VmRSS"))
}

func fileStats(b *broker.Broker) string {
	st := b.FileStats()
	return fmt.Sprintf("%d/%d/%d/%d", st.Open, st.Max, st.Opens, st.Evictions)
}

// startScaleServer opens the broker in dir and serves it; stop closes both.
func startScaleServer(t *testing.T, dir string) (*broker.Broker, string, func()) {
	t.Helper()
	b, err := broker.Open(broker.Config{DataDir: dir, Logger: quiet, MaintainInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Broker: b, Logger: quiet, AdvertisedHost: "127.0.0.1", AdvertisedPort: int32(ln.Addr().(*net.TCPAddr).Port)})
	go s.Serve(ln)
	return b, ln.Addr().String(), func() {
		s.Close()
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}
}

func scaleClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ConsumePartitions(nil), kgo.ProducerBatchMaxBytes(16<<20), kgo.BrokerMaxWriteBytes(256<<20))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// produceConsume produces one record to each sampled partition and
// consumes every record of them from the start; it returns the records
// consumed.
func produceConsume(t *testing.T, cl *kgo.Client, sample map[string][]int32, report func(string, any), suffix string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var recs []*kgo.Record
	offsets := map[string]map[int32]kgo.Offset{}
	for topic, parts := range sample {
		offsets[topic] = map[int32]kgo.Offset{}
		for _, p := range parts {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte("v")})
			offsets[topic][p] = kgo.NewOffset().AtStart()
		}
	}
	start := time.Now()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	report(fmt.Sprintf("produce to %d partitions%s", len(recs), suffix), time.Since(start).Round(time.Millisecond))
	// A sampled partition may be drawn twice: count what it holds.
	want := 0
	for _, parts := range sample {
		want += len(parts)
	}
	start = time.Now()
	cl.AddConsumePartitions(offsets)
	defer cl.PurgeTopicsFromConsuming(keys(sample)...)
	got := 0
	for got < want*len(suffixRounds(suffix)) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", got, want)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		got += fs.NumRecords()
	}
	report(fmt.Sprintf("consume from %d partitions%s", len(recs), suffix), time.Since(start).Round(time.Millisecond))
	return got
}

// suffixRounds: after the restart each sampled partition holds two
// records per draw, one from each round.
func suffixRounds(suffix string) []int {
	if strings.Contains(suffix, "restart") {
		return []int{1, 2}
	}
	return []int{1}
}

func keys(m map[string][]int32) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// procStatus returns a field of /proc/self/status, e.g. "VmHWM".
func procStatus(field string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			return strings.TrimSpace(strings.TrimPrefix(line, field+":"))
		}
	}
	return "unknown"
}

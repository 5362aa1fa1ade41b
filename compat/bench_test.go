package compat

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	benchRecords    = flag.Int("records", 1_000_000, "BenchmarkPeers: records to produce and then consume, per peer")
	benchRecordSize = flag.Int("record-size", 1024, "BenchmarkPeers: value size of each record in bytes")
	benchPartitions = flag.Int("partitions", 4, "BenchmarkPeers: partitions of the benchmark topic")
	benchPeers      = flag.String("peers", "herald,kfake", "BenchmarkPeers: comma-separated peers to run, in order")
)

// A benchPeer is a broker the benchmark runs as a child process, so that
// its peak RSS is its own.
type benchPeer struct {
	name string
	pkg  string // main package to build
	args func(dataDir string, port int) []string
	env  []string // added to the environment
}

var benchPeerList = []benchPeer{
	{
		name: "herald",
		pkg:  "github.com/heraldhq/herald/cmd/herald",
		args: func(dir string, port int) []string {
			return []string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:" + strconv.Itoa(port),
				"--durability", "always", "--log-level", "warn"}
		},
		// Only the broker: other listeners have fixed default ports.
		// Environment rather than flags, which an older herald lacks.
		env: []string{"HERALD_REGISTRY_LISTEN=", "HERALD_HTTP_LISTEN="},
	},
	{
		name: "kfake",
		pkg:  "github.com/heraldhq/herald/compat/cmd/kfakeserve",
		args: func(dir string, port int) []string {
			return []string{"-port", strconv.Itoa(port), "-data-dir", dir, "-sync"}
		},
	},
}

// benchResult is one peer's run.
type benchResult struct {
	peer             string
	records          int
	bytes            int64 // value bytes
	produce, consume time.Duration
	peakRSS          int64 // bytes, VmHWM of the broker process
	cpu              time.Duration
}

func (r benchResult) rate(d time.Duration) (recs, mb float64) {
	s := d.Seconds()
	return float64(r.records) / s, float64(r.bytes) / s / 1e6
}

// BenchmarkPeers produces -records records of -record-size bytes with
// franz-go (acks=all, idempotent, no compression, 1 MiB batches) into each
// peer, then consumes them all, and prints records/s, MB/s, the ratios
// Herald/kfake and each broker's peak RSS. Herald runs with durability
// "always" and kfake with SyncWrites, both as child processes on a temp
// data dir. It runs only when asked for:
//
//	go test ./compat -run '^$' -bench BenchmarkPeers -benchtime 1x                  # 1,000,000 records
//	go test ./compat -run '^$' -bench BenchmarkPeers -benchtime 1x -records 100000  # quick
func BenchmarkPeers(b *testing.B) {
	var peers []benchPeer
	for name := range strings.SplitSeq(*benchPeers, ",") {
		i := indexPeer(name)
		if i < 0 {
			b.Fatalf("unknown peer %q (have herald, kfake)", name)
		}
		peers = append(peers, benchPeerList[i])
	}
	bins := make(map[string]string)
	for _, p := range peers {
		bins[p.name] = buildPeer(b, p)
	}
	for range b.N {
		var results []benchResult
		for _, p := range peers {
			results = append(results, runPeer(b, p, bins[p.name]))
		}
		reportPeers(b, results)
	}
}

func indexPeer(name string) int {
	for i, p := range benchPeerList {
		if p.name == name {
			return i
		}
	}
	return -1
}

// buildPeer builds p's binary into a temp dir.
func buildPeer(b *testing.B, p benchPeer) string {
	bin := filepath.Join(b.TempDir(), p.name)
	out, err := exec.Command("go", "build", "-o", bin, p.pkg).CombinedOutput()
	if err != nil {
		b.Fatalf("build %s: %v\n%s", p.pkg, err, out)
	}
	return bin
}

// runPeer starts p, produces and consumes, stops p and returns the figures.
func runPeer(b *testing.B, p benchPeer, bin string) benchResult {
	port := freePort(b)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var logs bytes.Buffer
	cmd := exec.Command(bin, p.args(b.TempDir(), port)...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Env = append(os.Environ(), p.env...)
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", p.name, err)
	}
	var waitErr error
	exited := make(chan struct{}) // closed once waitErr is set
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
			b.Logf("%s output:\n%s", p.name, logs.String())
		}
	}()
	waitListening(b, addr, exited)

	res := benchResult{peer: p.name, records: *benchRecords, bytes: int64(*benchRecords) * int64(*benchRecordSize)}
	topic := "bench"
	benchCreateTopic(b, addr, topic)
	res.produce = benchProduce(b, addr, topic)
	res.consume = benchConsume(b, addr, topic)
	res.peakRSS, res.cpu = procStats(b, cmd.Process.Pid)

	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		stopped = true
		if waitErr != nil {
			b.Logf("%s exited with %v after SIGTERM:\n%s", p.name, waitErr, logs.String())
		}
	case <-time.After(30 * time.Second):
		b.Errorf("%s did not stop within 30s of SIGTERM", p.name)
	}
	return res
}

// freePort returns a port that was free a moment ago.
func freePort(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitListening(b *testing.B, addr string, exited <-chan struct{}) {
	checkFor(b, 30*time.Second, func() error {
		select {
		case <-exited:
			b.Fatalf("broker exited before listening on %s", addr)
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

func benchCreateTopic(b *testing.B, addr, topic string) {
	tg := target{name: "bench", seeds: []string{addr}}
	createTopic(b, tg, topic, int32(*benchPartitions), nil)
}

// benchProduce produces the records and returns how long it took until
// the last one was acknowledged.
func benchProduce(b *testing.B, addr, topic string) time.Duration {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(1<<17),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, *benchRecordSize)
	_, _ = rand.Read(value)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	var failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	for range *benchRecords {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			if err != nil && failed.Add(1) == 1 {
				firstErr.Store(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatalf("flush: %v", err)
	}
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d records failed, the first with %v", n, firstErr.Load())
	}
	return elapsed
}

// benchConsume reads every record from the start and returns how long it
// took.
func benchConsume(b *testing.B, addr, topic string) time.Duration {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	for n := 0; n < *benchRecords; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			b.Fatalf("consumed %d of %d records: %v", n, *benchRecords, err)
		}
		var errs []error
		fs.EachError(func(t string, p int32, err error) { errs = append(errs, fmt.Errorf("%s/%d: %w", t, p, err)) })
		if len(errs) > 0 {
			b.Fatalf("fetch: %v", errors.Join(errs...))
		}
		n += fs.NumRecords()
	}
	return time.Since(start)
}

// procStats returns the peak resident set (VmHWM) and the CPU time used
// so far of process pid.
func procStats(b *testing.B, pid int) (peak int64, cpu time.Duration) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Logf("peak RSS unavailable: %v", err)
		return -1, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			peak = kib << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		// Fields after the ")" closing the command name: state is
		// field 3, utime 14, stime 15, in clock ticks (100/s on Linux).
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
			fields := strings.Fields(string(stat[i+1:]))
			if len(fields) > 12 {
				ut, _ := strconv.ParseInt(fields[11], 10, 64)
				st, _ := strconv.ParseInt(fields[12], 10, 64)
				cpu = time.Duration(ut+st) * 10 * time.Millisecond
			}
		}
	}
	return peak, cpu
}

// reportPeers logs a table and reports each figure as a metric.
func reportPeers(b *testing.B, results []benchResult) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d records of %d B, %d partitions, acks=all, no compression\n",
		*benchRecords, *benchRecordSize, *benchPartitions)
	fmt.Fprintf(&sb, "%-8s %14s %10s %14s %10s %10s %9s\n",
		"peer", "produce rec/s", "MB/s", "consume rec/s", "MB/s", "peak RSS", "CPU")
	byName := make(map[string]benchResult)
	for _, r := range results {
		byName[r.peer] = r
		pr, pmb := r.rate(r.produce)
		cr, cmb := r.rate(r.consume)
		fmt.Fprintf(&sb, "%-8s %14.0f %10.1f %14.0f %10.1f %8.1f MiB %8.1fs\n",
			r.peer, pr, pmb, cr, cmb, float64(r.peakRSS)/(1<<20), r.cpu.Seconds())
		b.ReportMetric(pr, r.peer+"-produce-rec/s")
		b.ReportMetric(cr, r.peer+"-consume-rec/s")
		b.ReportMetric(float64(r.peakRSS)/(1<<20), r.peer+"-peak-MiB")
	}
	h, hok := byName["herald"]
	k, kok := byName["kfake"]
	if hok && kok {
		produce := k.produce.Seconds() / h.produce.Seconds()
		consume := k.consume.Seconds() / h.consume.Seconds()
		fmt.Fprintf(&sb, "herald/kfake: produce %.2fx, consume %.2fx, peak RSS %.2fx\n",
			produce, consume, float64(h.peakRSS)/float64(k.peakRSS))
		b.ReportMetric(produce, "herald/kfake-produce-x")
		b.ReportMetric(consume, "herald/kfake-consume-x")
	}
	b.Log(sb.String())
}

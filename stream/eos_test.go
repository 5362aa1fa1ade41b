package stream_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/stream"
)

// TestMain runs a child App instead of the tests when the kill test
// re-executes the test binary.
func TestMain(m *testing.M) {
	if addr := os.Getenv("STREAM_EOS_CHILD"); addr != "" {
		os.Exit(eosChild(addr, os.Getenv("STREAM_EOS_STATE"), os.Getenv("STREAM_EOS_INSTANCE")))
	}
	os.Exit(m.Run())
}

// eosTopology counts records per key of "in" and writes each new count
// to "out" in decimal.
func eosTopology() *stream.Topology {
	top := stream.NewTopology()
	in := stream.Source(top, "in", stream.String(), stream.String())
	counts := stream.Count(stream.GroupByKey(in, stream.String(), stream.String()), "counts")
	stream.MapValues(counts.ToStream(), func(_ string, n int64) string { return strconv.FormatInt(n, 10) }).
		To("out", stream.String(), stream.String())
	return top
}

// eosChild runs the exactly-once App until it is killed (or SIGTERM).
func eosChild(addr, state, instance string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	a, err := stream.New(eosTopology(), stream.Config{
		AppID: "eos", Brokers: []string{addr}, StateDir: state, Guarantee: guarantee(),
		InstanceID: instance, Logger: quiet(),
		ClientOpts: []kgo.Opt{kgo.InstanceID(instance), kgo.SessionTimeout(6 * time.Second),
			kgo.HeartbeatInterval(200 * time.Millisecond), kgo.TransactionTimeout(10 * time.Second)},
	})
	if err == nil {
		err = a.Run(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

type child struct {
	cmd  *exec.Cmd
	done chan error
}

func startChild(t *testing.T, addr, state, instance string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STREAM_EOS_CHILD="+addr, "STREAM_EOS_STATE="+state, "STREAM_EOS_INSTANCE="+instance)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	return c
}

func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// TestExactlyOnceKill runs the counting App as 3 child processes under
// ExactlyOnce, SIGKILLs one at random points while input keeps coming
// (each kill rebalances the group; some restart with an empty state dir
// and restore it from the changelog), and checks that the output read
// with read_committed is what a run without failures writes: for each
// key the counts 1, 2, ..., n, each once, in order.
func TestExactlyOnceKill(t *testing.T) {
	b := newBroker(t, "in", "out")
	out := collect(t, b.Addr(), "out")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	const keys, batches, perBatch = 20, 8, 250
	states := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	kids := make([]*child, 3)
	for i := range kids {
		kids[i] = startChild(t, b.Addr(), states[i], fmt.Sprint("i", i))
	}
	t.Cleanup(func() {
		for _, c := range kids {
			c.kill()
		}
	})
	want := map[string]int{}
	for batch := range batches {
		recs := make([]*kgo.Record, 0, perBatch)
		for range perBatch {
			k := fmt.Sprint("k", rng.IntN(keys))
			want[k]++
			recs = append(recs, rec(k, "x"))
		}
		produce(t, b.Addr(), "in", recs...)
		// Kill one instance once some of this batch's output is there:
		// mid-transaction, mid-restore or mid-rebalance, as it falls.
		target := batch*perBatch + rng.IntN(perBatch)
		testenv.CheckFor(t, 60*time.Second, func() error {
			if n := len(out.all()); n < target {
				return fmt.Errorf("%d outputs, waiting for %d", n, target)
			}
			return nil
		})
		i := rng.IntN(3)
		kids[i].kill()
		if rng.IntN(3) == 0 {
			states[i] = t.TempDir() // restore everything from the changelog
		}
		kids[i] = startChild(t, b.Addr(), states[i], fmt.Sprint("i", i))
	}
	total := batches * perBatch
	testenv.CheckFor(t, 90*time.Second, func() error {
		if n := len(out.all()); n < total {
			return fmt.Errorf("%d of %d outputs", n, total)
		}
		return nil
	})
	checkCounts(t, out, want)
	if len(out.all()) != total {
		t.Errorf("%d outputs, want %d", len(out.all()), total)
	}
}

// checkCounts checks the counting topology's output: for each key of
// want, the counts 1, 2, ..., want[key], each once, in order.
func checkCounts(t *testing.T, out *collector, want map[string]int) {
	t.Helper()
	got := map[string][]int{}
	for _, r := range out.all() {
		n, err := strconv.Atoi(string(r.Value))
		if err != nil {
			t.Fatalf("output %q: %v", r.Value, err)
		}
		got[string(r.Key)] = append(got[string(r.Key)], n)
	}
	for k, n := range want {
		seq := got[k]
		ok := len(seq) == n
		for i := 0; ok && i < n; i++ {
			ok = seq[i] == i+1
		}
		if !ok {
			t.Errorf("key %s: outputs %v, want 1..%d once each", k, seq, n)
		}
	}
}

// guarantee is ExactlyOnce; STREAM_EOS_ALOS=1 makes the children run
// AtLeastOnce, to see the kill test catch the duplicates that produces.
func guarantee() stream.Guarantee {
	if os.Getenv("STREAM_EOS_ALOS") == "1" {
		return stream.AtLeastOnce
	}
	return stream.ExactlyOnce
}

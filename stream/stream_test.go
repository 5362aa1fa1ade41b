package stream_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/stream"
)

// wordCount counts words of the values of "lines" into "counts" (decimal).
func wordCount() (*stream.Topology, stream.Table[string, int64]) {
	top := stream.NewTopology()
	lines := stream.Source(top, "lines", stream.String(), stream.String())
	words := stream.FlatMap(lines, func(_ string, line string) []stream.KeyValue[string, string] {
		var out []stream.KeyValue[string, string]
		for _, w := range strings.Fields(strings.ToLower(line)) {
			out = append(out, stream.KeyValue[string, string]{Key: w, Value: w})
		}
		return out
	})
	counts := stream.Count(stream.GroupByKey(words, stream.String(), stream.String()), "counts")
	stream.MapValues(counts.ToStream(), func(_ string, n int64) string { return strconv.FormatInt(n, 10) }).
		To("counts", stream.String(), stream.String())
	return top, counts
}

func TestWordCountRepartitionAndRestore(t *testing.T) {
	b := newBroker(t, "lines", "counts")
	out := collect(t, b.Addr(), "counts")
	top, counts := wordCount()
	cfg := stream.Config{AppID: "wc", Brokers: []string{b.Addr()}, StateDir: t.TempDir(), CommitInterval: 50 * time.Millisecond}

	produce(t, b.Addr(), "lines", rec("a", "the quick fox"), rec("b", "the lazy dog"), rec("c", "The end"))
	r := start(t, top, cfg)
	waitLatest(t, out, map[string]string{"the": "3", "quick": "1", "fox": "1", "lazy": "1", "dog": "1", "end": "1"})
	testenv.CheckFor(t, 10*time.Second, func() error {
		n, ok, err := counts.Get(r.app, "the")
		if err != nil || !ok || n != 3 {
			return fmt.Errorf("Get(the) = %d, %v: %w", n, ok, err)
		}
		return nil
	})
	r.stop(t)

	// A new instance with empty state restores the counts from the
	// changelog before it goes on.
	cfg.StateDir = t.TempDir()
	top2, _ := wordCount()
	r2 := start(t, top2, cfg)
	produce(t, b.Addr(), "lines", rec("d", "the fox"))
	waitLatest(t, out, map[string]string{"the": "4", "fox": "2", "dog": "1"})
	restored := int64(0)
	for _, m := range r2.app.Metrics() {
		restored += m.Restored
	}
	if restored == 0 {
		t.Errorf("no changelog record restored into the empty state dir")
	}
}

func TestDescribe(t *testing.T) {
	top, _ := wordCount()
	got := top.Describe("wc")
	for _, want := range []string{
		"Sub-topology 0: sources [lines]",
		"sink-2 <- flatMap-1 -> topic wc-group-2-repartition",
		"Sub-topology 1: sources [wc-group-2-repartition]",
		"count-4 <- source-3 [store counts, changelog wc-counts-changelog]",
		"-> topic counts",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Describe lacks %q:\n%s", want, got)
		}
	}
}

func TestDot(t *testing.T) {
	top, _ := wordCount()
	got := top.Dot("wc")
	for _, want := range []string{
		`"lines" [shape=box];`, `"lines" -> "source-0";`, `"source-0" -> "flatMap-1";`,
		`"sink-2" -> "wc-group-2-repartition";`, `"counts" [shape=cylinder];`, `subgraph cluster_1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Dot lacks %q:\n%s", want, got)
		}
	}
}

func TestMermaid(t *testing.T) {
	top, _ := wordCount()
	got := top.Mermaid("wc")
	for _, want := range []string{
		"flowchart LR\n", `subgraph sub1["sub-topology 1"]`, `n0["source-0"]`, "n0 --> n1\n",
		`t0[/"lines"/]`, "t0 --> n0\n", `t1[/"wc-group-2-repartition"/]`, "n2 --> t1\n",
		`s2[("counts")]`, "n4 <--> s2\n", `t3[/"counts"/]`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Mermaid lacks %q:\n%s", want, got)
		}
	}
}

func TestTopologyErrors(t *testing.T) {
	top := stream.NewTopology()
	s := stream.Source(top, "a", stream.String(), stream.String())
	stream.Source(top, "a", stream.String(), stream.String())
	g := stream.GroupByKey(s, stream.String(), stream.String())
	stream.Count(g, "st")
	stream.Count(g, "st")
	stream.Count(g, "bad/name")
	_, err := stream.New(top, stream.Config{})
	for _, want := range []string{`topic "a" is a source twice`, `store "st" already used`, `store name "bad/name"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New: %v; want it to say %q", err, want)
		}
	}
	_, err = stream.New(stream.NewTopology(), stream.Config{})
	if err == nil || !strings.Contains(err.Error(), "no source") {
		t.Errorf("New(empty): %v", err)
	}
	top = stream.NewTopology()
	stream.Count(stream.GroupByKey(stream.Source(top, "x", stream.String(), stream.String()), stream.String(), stream.String()), "s")
	_, err = stream.New(top, stream.Config{})
	for _, want := range []string{"AppID is empty", "Brokers is empty", "StateDir is empty"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New: %v; want it to say %q", err, want)
		}
	}
	_, err = stream.New(top, stream.Config{AppID: "my app", Brokers: []string{"x:1"}, StateDir: t.TempDir()})
	for _, want := range []string{`AppID "my app" has characters`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New: %v; want it to say %q", err, want)
		}
	}
}

func TestMapFilterBranchTo(t *testing.T) {
	b := newBroker(t, "in", "even", "odd", "big")
	even, odd, big := collect(t, b.Addr(), "even"), collect(t, b.Addr(), "odd"), collect(t, b.Addr(), "big")
	top := stream.NewTopology()
	nums := stream.MapValues(stream.Source(top, "in", stream.String(), stream.String()),
		func(_ string, v string) int64 { n, _ := strconv.ParseInt(v, 10, 64); return n })
	parts := nums.Filter(func(_ string, n int64) bool { return n > 0 }).
		Branch(func(_ string, n int64) bool { return n >= 100 }, func(_ string, n int64) bool { return n%2 == 0 }, func(string, int64) bool { return true })
	parts[0].To("big", stream.String(), stream.Int64())
	parts[1].To("even", stream.String(), stream.Int64())
	stream.Map(parts[2], func(k string, n int64) (string, string) { return "odd-" + k, strconv.FormatInt(n, 10) }).
		To("odd", stream.String(), stream.String())
	r := start(t, top, stream.Config{AppID: "mf", Brokers: []string{b.Addr()}})
	produce(t, b.Addr(), "in", rec("a", "1"), rec("b", "2"), rec("c", "-4"), rec("d", "300"), rec("e", "5"))
	waitLatest(t, odd, map[string]string{"odd-a": "1", "odd-e": "5"})
	testenv.CheckFor(t, 10*time.Second, func() error {
		if len(even.all()) != 1 || len(big.all()) != 1 {
			return fmt.Errorf("even %d, big %d records", len(even.all()), len(big.all()))
		}
		return nil
	})
	if v, _ := stream.Int64().Decode(big.all()[0].Value); v != 300 {
		t.Errorf("big = %d", v)
	}
	if len(odd.all()) != 2 {
		t.Errorf("odd has %d records, want 2 (c=-4 filtered, d to big)", len(odd.all()))
	}
	testenv.CheckFor(t, 10*time.Second, func() error {
		var in, out, lag int64
		for _, m := range r.app.Metrics() {
			in, out, lag = in+m.RecordsIn, out+m.RecordsOut, lag+m.Lag
		}
		if in != 5 || out != 4 || lag != 0 {
			return fmt.Errorf("metrics: in %d, out %d, lag %d; want 5, 4, 0", in, out, lag)
		}
		return nil
	})
}

func TestUndecodableStopsOrSkips(t *testing.T) {
	b := newBroker(t, "nums", "out")
	build := func() *stream.Topology {
		top := stream.NewTopology()
		stream.Source(top, "nums", stream.String(), stream.Int64()).To("out", stream.String(), stream.Int64())
		return top
	}
	produce(t, b.Addr(), "nums", rec("k", "not eight bytes"))
	a, err := stream.New(build(), stream.Config{AppID: "u1", Brokers: []string{b.Addr()}, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = a.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "undecodable record") || !strings.Contains(err.Error(), "nums[") {
		t.Fatalf("Run = %v, want an undecodable-record error naming the partition", err)
	}
	// Nothing was committed: a second run of the same app sees it again.
	err = func() error {
		a, _ := stream.New(build(), stream.Config{AppID: "u1", Brokers: []string{b.Addr()}, Logger: quiet()})
		return a.Run(ctx)
	}()
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Run = %v, want the same error", err)
	}
	out := collect(t, b.Addr(), "out")
	produce(t, b.Addr(), "nums", &kgo.Record{Key: []byte("k"), Value: []byte{0, 0, 0, 0, 0, 0, 0, 7}})
	r := start(t, build(), stream.Config{AppID: "u1", Brokers: []string{b.Addr()}, SkipUndecodable: true})
	testenv.CheckFor(t, 20*time.Second, func() error {
		if len(out.all()) != 1 {
			return fmt.Errorf("%d outputs", len(out.all()))
		}
		return nil
	})
	testenv.CheckFor(t, 5*time.Second, func() error {
		var skipped int64
		for _, m := range r.app.Metrics() {
			skipped += m.Skipped
		}
		if skipped != 1 {
			return fmt.Errorf("skipped = %d", skipped)
		}
		return nil
	})
}

func TestCoPartitioningCheck(t *testing.T) {
	b := newBrokerWith(t, map[string]int32{"users": 3, "clicks": 2})
	top := stream.NewTopology()
	users := stream.TableOf(top, "users", "users", stream.String(), stream.String())
	clicks := stream.Source(top, "clicks", stream.String(), stream.String())
	stream.JoinTable(clicks, users, func(_, c, u string) string { return c + u }).To("out", stream.String(), stream.String())
	a, err := stream.New(top, stream.Config{AppID: "cp", Brokers: []string{b.Addr()}, StateDir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = a.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "not co-partitioned (clicks has 2, users has 3 partitions)") {
		t.Errorf("Run = %v", err)
	}
}

// TestCommitMoreThanProducerBuffer: a commit with more changelog records
// than the producer buffers (here 16) completes. Producing them under
// the store's lock deadlocked: a full buffer waits for
// acknowledgements, whose callbacks wait for the lock.
func TestCommitMoreThanProducerBuffer(t *testing.T) {
	b := newBrokerWith(t, map[string]int32{"ev": 1})
	var recs []*kgo.Record
	for i := range 500 {
		recs = append(recs, rec(fmt.Sprint("k", i), "v"))
	}
	produce(t, b.Addr(), "ev", recs...)
	top := stream.NewTopology()
	stream.Count(stream.GroupByKey(stream.Source(top, "ev", stream.String(), stream.String()), stream.String(), stream.String()), "counts")
	start(t, top, stream.Config{AppID: "bigcommit", Brokers: []string{b.Addr()}, StateDir: t.TempDir(),
		CommitInterval: 100 * time.Millisecond, ClientOpts: []kgo.Opt{kgo.MaxBufferedRecords(16)}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// The first commit writes the 500 counts to the changelog.
	testenv.CheckFor(t, 60*time.Second, func() error {
		ends, err := adm.ListEndOffsets(context.Background(), "bigcommit-counts-changelog")
		if err != nil {
			return err
		}
		if end, _ := ends.Lookup("bigcommit-counts-changelog", 0); end.Offset != 500 {
			return fmt.Errorf("changelog end %d, want 500", end.Offset)
		}
		return nil
	})
}

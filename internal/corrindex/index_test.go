package corrindex_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/corrindex"
	"github.com/heraldhq/herald/internal/heraldtestutil"
)

type env struct {
	t   *testing.T
	ctx context.Context
	b   *heraldtest.Broker
	cl  *kgo.Client
	dir string
}

func newEnv(t *testing.T, opts ...kgo.Opt) *env {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	b := heraldtest.NewBroker(t, heraldtest.WithTopics(2, "orders", "payments", "shipments"), heraldtest.WithAutoCreate(false))
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &env{t: t, ctx: ctx, b: b, cl: cl, dir: filepath.Join(t.TempDir(), "idx")}
}

func (e *env) open() *corrindex.Index {
	e.t.Helper()
	x, err := corrindex.Open(corrindex.Config{Dir: e.dir, Broker: heraldtestutil.Server(e.b).Broker(), Interval: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = x.Close() })
	return x
}

// event produces one CloudEvent-style record.
func (e *env) event(topic, id, corr, cause string, at time.Time) {
	e.t.Helper()
	r := &kgo.Record{Topic: topic, Key: []byte(corr), Value: []byte(`{"id":"` + id + `"}`), Timestamp: at, Headers: []kgo.RecordHeader{
		{Key: "ce_id", Value: []byte(id)}, {Key: "ce_type", Value: []byte(topic + ".v1")}, {Key: "ce_source", Value: []byte("svc-" + topic)},
		{Key: "ce_time", Value: []byte(at.UTC().Format(time.RFC3339Nano))},
	}}
	if corr != "" {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: "ce_correlationid", Value: []byte(corr)})
	}
	if cause != "" {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: "ce_causationid", Value: []byte(cause)})
	}
	if err := e.cl.ProduceSync(e.ctx, r).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// chain produces a three-hop flow, orders -> payments -> shipments, with
// noise of other flows around it.
func (e *env) chain(corr string, t0 time.Time) {
	e.event("orders", "noise-1", "other", "", t0)
	e.event("orders", corr, corr, "", t0)
	e.event("payments", corr+"-paid", corr, corr, t0.Add(150*time.Millisecond))
	e.event("orders", "noise-2", "other", "noise-1", t0.Add(time.Second))
	e.event("shipments", corr+"-shipped", corr, corr+"-paid", t0.Add(400*time.Millisecond))
}

func ids(evs []corrindex.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Topic+"/"+e.ID)
	}
	return out
}

func wantIDs(t *testing.T, evs []corrindex.Event, want ...string) {
	t.Helper()
	got := ids(evs)
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
}

func TestTraceByCorrelationAndEventID(t *testing.T) {
	e := newEnv(t)
	x := e.open()
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	e.chain("order-1", t0)
	e.chain("order-2", t0.Add(time.Second))
	want := []string{"orders/order-1", "payments/order-1-paid", "shipments/order-1-shipped"}
	evs, err := x.Trace(e.ctx, "order-1")
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, evs, want...)
	if evs[1].CausationID != "order-1" || evs[2].CausationID != "order-1-paid" || evs[1].Type != "payments.v1" || evs[2].Source != "svc-shipments" {
		t.Errorf("attributes: %+v", evs)
	}
	if d := evs[2].Time.Sub(evs[1].Time); d != 250*time.Millisecond {
		t.Errorf("payment to shipment %v, want 250ms", d)
	}
	// Any event's id finds its whole flow.
	evs, err = x.Trace(e.ctx, "order-1-shipped")
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, evs, want...)
	if _, err := x.Trace(e.ctx, "no-such-flow"); !errors.Is(err, corrindex.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestTraceCompressedBatches(t *testing.T) {
	for _, c := range []kgo.CompressionCodec{kgo.GzipCompression(), kgo.ZstdCompression(), kgo.Lz4Compression(), kgo.SnappyCompression()} {
		e := newEnv(t, kgo.ProducerBatchCompression(c))
		x := e.open()
		e.chain("flow", time.Now())
		evs, err := x.Trace(e.ctx, "flow")
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, evs, "orders/flow", "payments/flow-paid", "shipments/flow-shipped")
	}
}

// The index resumes where it stopped after a restart, and is rebuilt from
// the logs when its directory is lost.
func TestResumeAndRebuild(t *testing.T) {
	e := newEnv(t)
	x := e.open()
	t0 := time.Now().Truncate(time.Millisecond)
	e.chain("order-1", t0)
	if err := x.CatchUp(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	// Records appended while the index was closed.
	e.event("payments", "order-1-refund", "order-1", "order-1-paid", t0.Add(time.Second))
	x = e.open()
	want := []string{"orders/order-1", "payments/order-1-paid", "shipments/order-1-shipped", "payments/order-1-refund"}
	evs, err := x.Trace(e.ctx, "order-1")
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, evs, want...)
	x.Close()

	e.dir = filepath.Join(t.TempDir(), "fresh")
	x = e.open()
	if evs, err = x.Trace(e.ctx, "order-1"); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, evs, want...)
}

// Entries of records gone to DeleteRecords or with their topic are swept.
func TestSweep(t *testing.T) {
	e := newEnv(t)
	x := e.open()
	e.chain("order-1", time.Now())
	if err := x.CatchUp(); err != nil {
		t.Fatal(err)
	}
	if n, err := x.Sweep(); err != nil || n != 0 {
		t.Fatalf("sweep of a live index: %d, %v", n, err)
	}
	adm := kadm.NewClient(e.cl)
	// orders holds noise-1, order-1, noise-2 (on whichever partitions):
	// delete all of them.
	ends, err := adm.ListEndOffsets(e.ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	os := kadm.Offsets{}
	ends.Each(func(o kadm.ListedOffset) { os.AddOffset(o.Topic, o.Partition, o.Offset, -1) })
	if _, err := adm.DeleteRecords(e.ctx, os); err != nil {
		t.Fatal(err)
	}
	n, err := x.Sweep()
	if err != nil {
		t.Fatal(err)
	}
	// 3 records with an id each and a correlation id each.
	if n != 6 {
		t.Errorf("swept %d entries, want 6", n)
	}
	evs, err := x.Trace(e.ctx, "order-1-paid")
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, evs, "payments/order-1-paid", "shipments/order-1-shipped")

	if _, err := adm.DeleteTopic(e.ctx, "shipments"); err != nil {
		t.Fatal(err)
	}
	if n, err = x.Sweep(); err != nil || n != 2 {
		t.Errorf("sweep after deleting shipments: %d, %v; want 2", n, err)
	}
	if evs, err = x.Trace(e.ctx, "order-1"); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, evs, "payments/order-1-paid")
}

// Flows spread over many epochs are found whole, before and after a
// restart, and swept.
func TestManyEpochs(t *testing.T) {
	defer corrindex.SetEpochEntries(3)()
	e := newEnv(t)
	x := e.open()
	t0 := time.Now().Truncate(time.Millisecond)
	for i := 0; i < 4; i++ {
		e.chain("order-"+strconv.Itoa(i), t0.Add(time.Duration(i)*time.Second))
		if err := x.CatchUp(); err != nil { // a pass per chain: epochs advance between them
			t.Fatal(err)
		}
	}
	if ep := x.Epoch(); ep < 4 {
		t.Fatalf("epoch %d after 40 entries of 3 an epoch", ep)
	}
	want := []string{"orders/order-2", "payments/order-2-paid", "shipments/order-2-shipped"}
	evs, err := x.Trace(e.ctx, "order-2-paid")
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, evs, want...)
	before := x.Epoch()
	x.Close()
	x = e.open()
	if x.Epoch() <= before {
		t.Fatalf("epoch %d after a restart from %d", x.Epoch(), before)
	}
	e.event("payments", "order-2-refund", "order-2", "order-2-paid", t0.Add(time.Hour))
	if evs, err = x.Trace(e.ctx, "order-2"); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, evs, append(want, "payments/order-2-refund")...)
	if n, err := x.Sweep(); err != nil || n != 0 {
		t.Fatalf("sweep of a live index: %d, %v", n, err)
	}
	if evs, err = x.Trace(e.ctx, "order-0"); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, evs, "orders/order-0", "payments/order-0-paid", "shipments/order-0-shipped")
}

// A trace does not wait longer than CatchUpBudget for an index that is
// behind: it answers from what is indexed.
func TestCatchUpBudget(t *testing.T) {
	e := newEnv(t)
	x := e.open()
	e.chain("order-1", time.Now())
	old := corrindex.CatchUpBudget
	corrindex.CatchUpBudget = time.Nanosecond
	defer func() { corrindex.CatchUpBudget = old }()
	if _, err := x.Trace(e.ctx, "order-1"); !errors.Is(err, corrindex.ErrNotFound) {
		t.Fatalf("trace with no time to catch up: %v, want ErrNotFound", err)
	}
	corrindex.CatchUpBudget = old
	evs, err := x.Trace(e.ctx, "order-1")
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, evs, "orders/order-1", "payments/order-1-paid", "shipments/order-1-shipped")
}

// A crash loses what the index had not flushed (it keeps no write-ahead
// log): the copy of its directory taken while it runs is what a crash
// leaves, and an index opened on it indexes the lost records again.
func TestCrashLosesUnflushed(t *testing.T) {
	e := newEnv(t)
	x := e.open()
	t0 := time.Now().Truncate(time.Millisecond)
	e.chain("order-1", t0)
	if err := x.CatchUp(); err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(t.TempDir(), "crashed")
	if err := os.CopyFS(crashed, os.DirFS(e.dir)); err != nil {
		t.Fatal(err)
	}
	e.event("payments", "order-1-refund", "order-1", "order-1-paid", t0.Add(time.Second))
	e.dir = crashed
	y := e.open()
	evs, err := y.Trace(e.ctx, "order-1")
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, evs, "orders/order-1", "payments/order-1-paid", "shipments/order-1-shipped", "payments/order-1-refund")
	// The original, still running, has all of it too.
	if evs, err = x.Trace(e.ctx, "order-1"); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, evs, "orders/order-1", "payments/order-1-paid", "shipments/order-1-shipped", "payments/order-1-refund")
}

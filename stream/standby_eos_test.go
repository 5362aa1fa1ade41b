package stream_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/stream"
)

// TestStandbyExactlyOnce: 3 instances count under ExactlyOnce with
// standbys, and an aborted transaction writes a bogus count for every
// key into each changelog partition. Then the owner of a task closes;
// the task moves to an instance whose standby has tailed the changelog,
// which restores (almost) nothing, and the read_committed output is what
// a run without failures writes: for each key 1, 2, ..., n once each.
//
// The standbys must apply committed changelog records only: one that read
// the aborted transaction would hold the bogus counts, the moved task
// would count on from them, and its keys' outputs would jump.
//
// Standbys is 2, so each of the 2 other instances keeps a copy of every
// task: the balancer (cooperative-sticky) knows nothing of standbys, and
// either may get the moved task.
func TestStandbyExactlyOnce(t *testing.T) {
	b := newBroker(t, "in", "out")
	out := collect(t, b.Addr(), "out")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	cfg := func(i int) stream.Config {
		return stream.Config{AppID: "sbeos", Brokers: []string{b.Addr()}, StateDir: t.TempDir(), InstanceID: fmt.Sprint("i", i),
			Guarantee: stream.ExactlyOnce, Standbys: 2, CommitInterval: 100 * time.Millisecond}
	}
	apps := make([]*running, 3)
	for i := range apps {
		apps[i] = start(t, eosTopology(), cfg(i))
	}
	const keys = 30
	want := map[string]int{}
	batch := func(n int) {
		recs := make([]*kgo.Record, 0, n)
		for range n {
			k := fmt.Sprint("k", rng.IntN(keys))
			want[k]++
			recs = append(recs, rec(k, "x"))
		}
		produce(t, b.Addr(), "in", recs...)
	}
	total := 0
	waitOutputs := func(n int) {
		testenv.CheckFor(t, 60*time.Second, func() error {
			if got := len(out.all()); got != n {
				return fmt.Errorf("%d outputs, want %d", got, n)
			}
			return nil
		})
	}
	// Every instance runs a task before the first records, so the
	// standbys are in place.
	testenv.CheckFor(t, 60*time.Second, func() error {
		for i, a := range apps {
			if len(a.app.Metrics()) != 1 {
				return fmt.Errorf("instance %d runs tasks %v", i, a.app.Metrics())
			}
		}
		return nil
	})
	batch(600)
	total += 600
	waitOutputs(total)

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	abortBogusCounts(t, b.Addr(), "sbeos-counts-changelog", keys)
	// The standbys read past the aborted transaction (its marker is the
	// changelog's last offset).
	waitStandbysAt(t, adm, "sbeos-counts-changelog", apps)

	// The owner of task 0_0 closes; the task moves to an instance whose
	// standby is at the changelog's end.
	owner := -1
	for i, a := range apps {
		if ms := a.app.Metrics(); len(ms) == 1 && ms[0].Task == "0_0" {
			owner = i
		}
	}
	if owner < 0 {
		t.Fatal("no instance runs task 0_0")
	}
	apps[owner].stop(t)
	var moved stream.TaskMetrics
	testenv.CheckFor(t, 60*time.Second, func() error {
		for i, a := range apps {
			if i == owner {
				continue
			}
			for _, m := range a.app.Metrics() {
				if m.Task == "0_0" {
					moved = m
					return nil
				}
			}
		}
		return fmt.Errorf("task 0_0 not moved yet")
	})
	// On a cluster whose leaders move, a partition's answer can be an
	// error (NOT_LEADER) with offset -1: ask again.
	var end kadm.ListedOffset
	testenv.CheckFor(t, 30*time.Second, func() error {
		ends, err := adm.ListEndOffsets(context.Background(), "sbeos-counts-changelog")
		if err != nil {
			return err
		}
		var ok bool
		if end, ok = ends.Lookup("sbeos-counts-changelog", 0); !ok {
			return fmt.Errorf("no end offset for partition 0")
		}
		return end.Err
	})
	if moved.Restored*10 > end.Offset {
		t.Errorf("the moved task restored %d changelog records of %d: the standby was not used", moved.Restored, end.Offset)
	}

	batch(600)
	total += 600
	waitOutputs(total)
	checkCounts(t, out, want)
}

// bogusCount is what the aborted transaction writes for every key.
const bogusCount = 1_000_000

// abortBogusCounts writes bogusCount for keys k0..k<keys-1> to every
// partition of the changelog in a transaction, and aborts it.
func abortBogusCounts(t *testing.T, addr, changelog string, keys int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("bogus-"+changelog),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	v := binary.BigEndian.AppendUint64(nil, bogusCount)
	var recs []*kgo.Record
	for p := range int32(3) {
		for i := range keys {
			recs = append(recs, &kgo.Record{Topic: changelog, Partition: p, Key: fmt.Appendf(nil, "k%d", i), Value: v})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
}

// waitStandbysAt waits until, for every partition of the changelog,
// each instance that does not run its task keeps a standby at the
// changelog's end.
func waitStandbysAt(t *testing.T, adm *kadm.Client, changelog string, apps []*running) {
	t.Helper()
	testenv.CheckFor(t, 60*time.Second, func() error {
		ends, err := adm.ListEndOffsets(context.Background(), changelog)
		if err != nil {
			return err
		}
		for i, a := range apps {
			sbs := map[string]int64{}
			for _, s := range a.app.Standbys() {
				sbs[s.Task] = s.Offset
			}
			runs := map[string]bool{}
			for _, m := range a.app.Metrics() {
				runs[m.Task] = true
			}
			for p := range int32(3) {
				task := fmt.Sprint("0_", p)
				if runs[task] {
					continue
				}
				end, _ := ends.Lookup(changelog, p)
				if off, ok := sbs[task]; !ok || off != end.Offset {
					return fmt.Errorf("instance %d: standby of %s at %d (kept %v), changelog end %d", i, task, off, ok, end.Offset)
				}
			}
		}
		return nil
	})
}

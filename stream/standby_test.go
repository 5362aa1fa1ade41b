package stream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/stream"
)

// TestStandbyFailover: two instances count 2,000 keys over two
// partitions; the second stops and its task moves to the first. With a
// standby the first kept warm, the move restores only the changelog's
// tail; without, the whole partition. Both end with every count right.
func TestStandbyFailover(t *testing.T) {
	without := failover(t, 0)
	with := failover(t, 1)
	t.Logf("records restored on failover: %d without a standby, %d with", without, with)
	if without < 500 {
		t.Fatalf("without a standby, failover restored %d records; want the partition's (~1000)", without)
	}
	if with*10 > without {
		t.Errorf("with a standby, failover restored %d records, without %d: want at most a tenth", with, without)
	}
}

// failover runs the scenario with the given Standbys and returns how
// many changelog records the moved task restored.
func failover(t *testing.T, standbys int) int64 {
	b := newBrokerWith(t, map[string]int32{"ev": 2})
	var recs []*kgo.Record
	for i := range 2000 {
		recs = append(recs, rec(fmt.Sprintf("k%04d", i), "v"), rec(fmt.Sprintf("k%04d", i), "v"))
	}
	produce(t, b.Addr(), "ev", recs...)
	var counts stream.Table[string, int64]
	build := func() *stream.Topology {
		top := stream.NewTopology()
		counts = stream.Count(stream.GroupByKey(stream.Source(top, "ev", stream.String(), stream.String()), stream.String(), stream.String()), "counts")
		return top
	}
	cfg := func(i int) stream.Config {
		return stream.Config{AppID: "sb", Brokers: []string{b.Addr()}, StateDir: t.TempDir(), InstanceID: fmt.Sprint(i),
			CommitInterval: 100 * time.Millisecond, Standbys: standbys}
	}
	// Instance 1 counts everything alone, then instance 0 joins and takes
	// one task: it never ran the other, so has no state of it but a
	// standby's.
	a1 := start(t, build(), cfg(1))
	testenv.CheckFor(t, 60*time.Second, func() error {
		for i := range 2000 {
			k := fmt.Sprintf("k%04d", i)
			if n, _, _ := counts.Get(a1.app, k); n != 2 {
				return fmt.Errorf("%s: %d", k, n)
			}
		}
		return nil
	})
	a0 := start(t, build(), cfg(0))
	// Both run a task, every key counted twice; with standbys, each
	// instance's standby has caught up with the other's changelog.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	testenv.CheckFor(t, 60*time.Second, func() error {
		if len(a0.app.Metrics()) != 1 || len(a1.app.Metrics()) != 1 {
			return fmt.Errorf("tasks: %v, %v", a0.app.Metrics(), a1.app.Metrics())
		}
		for i := range 2000 {
			k := fmt.Sprintf("k%04d", i)
			if n, _ := localGet2(counts, k, a0.app, a1.app); n != 2 {
				return fmt.Errorf("%s: %d", k, n)
			}
		}
		if standbys == 0 {
			return nil
		}
		return caughtUp(adm, a0.app, a1.app)
	})
	// More records, and instance 1 stops as soon as it has counted them:
	// the standby may be behind by them.
	var more []*kgo.Record
	for i := range 200 {
		more = append(more, rec(fmt.Sprintf("k%04d", i), "v"))
	}
	produce(t, b.Addr(), "ev", more...)
	testenv.CheckFor(t, 60*time.Second, func() error {
		for i := range 200 {
			k := fmt.Sprintf("k%04d", i)
			if n, _ := localGet2(counts, k, a0.app, a1.app); n != 3 {
				return fmt.Errorf("%s: %d", k, n)
			}
		}
		return nil
	})
	moved := a1.app.Metrics()[0].Task
	a1.stop(t)
	var restored int64
	testenv.CheckFor(t, 60*time.Second, func() error {
		for _, m := range a0.app.Metrics() {
			if m.Task == moved {
				restored = m.Restored
				return nil
			}
		}
		return fmt.Errorf("task %s not moved yet: %v", moved, a0.app.Metrics())
	})
	for i := range 2000 {
		k := fmt.Sprintf("k%04d", i)
		if n, ok, err := counts.Get(a0.app, k); err != nil || !ok || n != 2+int64(min(1, 200/(i+1))) {
			t.Fatalf("after failover, %s: %d %v %v", k, n, ok, err)
		}
	}
	a0.stop(t)
	return restored
}

// caughtUp checks that each App keeps a standby of the other's task, at
// the end of its changelog.
func caughtUp(adm *kadm.Client, apps ...*stream.App) error {
	ends, err := adm.ListEndOffsets(context.Background(), "sb-counts-changelog")
	if err != nil {
		return err
	}
	for i, a := range apps {
		sbs := a.Standbys()
		if len(sbs) != 1 {
			return fmt.Errorf("app %d keeps standbys %v", i, sbs)
		}
		var p int32
		if _, err := fmt.Sscanf(sbs[0].Task, "0_%d", &p); err != nil {
			return err
		}
		end, _ := ends.Lookup("sb-counts-changelog", p)
		if sbs[0].Offset != end.Offset || end.Offset == 0 {
			return fmt.Errorf("app %d standby of %s at %d, changelog end %d", i, sbs[0].Task, sbs[0].Offset, end.Offset)
		}
	}
	return nil
}

func localGet2(tb stream.Table[string, int64], k string, apps ...*stream.App) (int64, bool) {
	for _, a := range apps {
		if v, ok, err := tb.Get(a, k); err == nil {
			return v, ok
		}
	}
	return 0, false
}

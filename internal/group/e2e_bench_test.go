package group_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/heraldtestutil"
)

// TestRebalanceAfterLeave measures the time from a member leaving (its
// client closing, which sends LeaveGroup) to the group being Stable again
// with everyone else, for 3 and 30 franz-go members with a 100ms
// heartbeat interval (members learn of a rebalance from a heartbeat).
func TestRebalanceAfterLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	b := heraldtest.NewBroker(t, heraldtest.WithDurability("none"))
	topic := "bench"
	createTopic(t, b.Addr(), topic, 60)
	for _, n := range []int{3, 30} {
		for _, bal := range []struct {
			name string
			opt  kgo.GroupBalancer
		}{{"range", kgo.RangeBalancer()}, {"cooperative-sticky", kgo.CooperativeStickyBalancer()}} {
			grp := fmt.Sprintf("bench-%d-%s", n, bal.name)
			var cls []*kgo.Client
			for i := 0; i < n; i++ {
				cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumerGroup(grp), kgo.ConsumeTopics(topic),
					kgo.Balancers(bal.opt), kgo.HeartbeatInterval(100*time.Millisecond), kgo.SessionTimeout(10*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				cls = append(cls, cl)
				go func() {
					for {
						if fs := cl.PollFetches(context.Background()); fs.IsClientClosed() {
							return
						}
					}
				}()
			}
			stable := func(want int) error {
				d, _ := heraldtestutil.Server(b).Groups().Describe(grp)
				if d.State.String() != "Stable" || len(d.Members) != want {
					return fmt.Errorf("%s with %d members", d.State, len(d.Members))
				}
				return nil
			}
			checkFor(t, 30*time.Second, func() error { return stable(n) })
			var took []time.Duration
			for round := 0; round < 3 && len(cls) > 1; round++ {
				time.Sleep(300 * time.Millisecond)
				start := time.Now()
				cls[0].Close()
				cls = cls[1:]
				deadline := time.Now().Add(30 * time.Second)
				for stable(len(cls)) != nil {
					if time.Now().After(deadline) {
						t.Fatalf("%s: not stable after a leave: %v", grp, stable(len(cls)))
					}
					time.Sleep(time.Millisecond)
				}
				took = append(took, time.Since(start))
			}
			sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
			t.Logf("rebalance after leave, %2d members, %-18s: median %v (runs %v)", n, bal.name, took[len(took)/2].Round(time.Millisecond), took)
			for _, cl := range cls {
				cl.Close()
			}
		}
	}
}

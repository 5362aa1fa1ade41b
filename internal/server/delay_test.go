package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/testenv"
)

// TestInitialRebalanceDelayDefault: with the default config (Kafka's
// group.initial.rebalance.delay.ms of 3s), a consumer that joins a new
// group while the first is still waiting lands in the same, first
// generation: librdkafka's tests 0102, 0113 and 0118 expect that.
func TestInitialRebalanceDelayDefault(t *testing.T) {
	if d := DefaultConfig().Groups.Group.InitialRebalanceDelay; d != 3*time.Second {
		t.Fatalf("default initial rebalance delay %v, want Kafka's 3s", d)
	}
	cfg := DefaultConfig()
	cfg.DataDir, cfg.ListenAddr, cfg.Durability = t.TempDir(), "127.0.0.1:0", "none"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	seed := srv.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(seed)))
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "delayed"); err != nil {
		t.Fatal(err)
	}
	member := func() *kgo.Client {
		return mustClient(t, kgo.SeedBrokers(seed), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("delayed"),
			kgo.Balancers(kgo.RangeBalancer()))
	}
	a := member()
	// a's join has reached the coordinator once the group has a member.
	eventually(t, 10*time.Second, func() error {
		d, err := adm.DescribeGroups(ctx, "g")
		if err != nil {
			return err
		}
		if n := len(d["g"].Members); n == 0 {
			return fmt.Errorf("group g has no member yet (state %q)", d["g"].State)
		}
		return nil
	})
	b := member()
	eventually(t, 20*time.Second, func() error {
		d, err := adm.DescribeGroups(ctx, "g")
		if err != nil {
			return err
		}
		if g := d["g"]; g.State != "Stable" || len(g.Members) != 2 {
			return fmt.Errorf("group g %s with %d members, want Stable with 2", g.State, len(g.Members))
		}
		for _, cl := range []*kgo.Client{a, b} {
			if _, gen := cl.GroupMetadata(); gen <= 0 {
				return fmt.Errorf("a member has generation %d", gen)
			}
		}
		return nil
	})
	for i, cl := range []*kgo.Client{a, b} {
		if _, gen := cl.GroupMetadata(); gen != 1 {
			t.Errorf("member %d is in generation %d, want both in the first (1)", i, gen)
		}
	}
}

func mustClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// eventually polls cond until it returns nil; see testenv.CheckFor.
var eventually = testenv.CheckFor

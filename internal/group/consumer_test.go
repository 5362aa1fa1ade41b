package group

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestConsumerIncremental checks KIP-848 handover: a partition is revoked
// from its owner (same epoch) before the new member gets it, and no
// partition is ever assigned to two members.
func TestConsumerIncremental(t *testing.T) {
	id := [16]byte{1}
	g := NewConsumer("g", ConsumerConfig{}, func(string) (TopicInfo, bool) { return TopicInfo{ID: id, Partitions: 4}, true })
	now := time.Unix(0, 0)
	hb := func(ev CHeartbeat) CResult {
		ev.Token = 1
		return replyOf(g.Step(now, ev)).(CResult)
	}
	show := func(r CResult) string {
		var ps []string
		for _, t := range r.Assignment {
			ps = append(ps, fmt.Sprint(t.Partitions))
		}
		return fmt.Sprintf("epoch=%d %s", r.Epoch, strings.Join(ps, ""))
	}
	a := hb(CHeartbeat{MemberID: "a", Subscribed: []string{"t"}, Rebalance: 10 * time.Second})
	if got := show(a); got != "epoch=1 [0 1 2 3]" {
		t.Fatalf("a joined: %s", got)
	}
	owned := func(ps ...int32) []TopicPartitions { return []TopicPartitions{{TopicID: id, Partitions: ps}} }
	b := hb(CHeartbeat{MemberID: "b", Subscribed: []string{"t"}})
	if got := show(b); got != "epoch=2 " {
		t.Fatalf("b joined while a still owns everything: %s", got)
	}
	a = hb(CHeartbeat{MemberID: "a", MemberEpoch: 1, Owned: owned(0, 1, 2, 3)})
	if got := show(a); got != "epoch=1 [0 1]" {
		t.Fatalf("a told to revoke: %s", got)
	}
	b = hb(CHeartbeat{MemberID: "b", MemberEpoch: 2, Owned: owned()})
	if got := show(b); got != "epoch=2 " {
		t.Fatalf("b before a revoked: %s", got)
	}
	a = hb(CHeartbeat{MemberID: "a", MemberEpoch: 1, Owned: owned(0, 1)})
	if got := show(a); got != "epoch=2 [0 1]" {
		t.Fatalf("a after revoking: %s", got)
	}
	b = hb(CHeartbeat{MemberID: "b", MemberEpoch: 2, Owned: owned()})
	if got := show(b); got != "epoch=2 [2 3]" {
		t.Fatalf("b after a revoked: %s", got)
	}
	if r := hb(CHeartbeat{MemberID: "b", MemberEpoch: 7}); r.Err == nil {
		t.Fatal("a stale epoch was accepted")
	}
	if r := hb(CHeartbeat{MemberID: "zz", MemberEpoch: 3}); r.Err == nil {
		t.Fatal("an unknown member was accepted")
	}
	// b vanishes: after the session timeout a gets everything back.
	now = now.Add(46 * time.Second)
	g.Step(now, Tick{})
	if g.Len() != 0 {
		t.Fatalf("%d members after both sessions expired", g.Len())
	}
}

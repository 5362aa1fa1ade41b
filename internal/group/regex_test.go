package group

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestConsumerRegexSubscription: a member subscribing by regex gets the
// topics whose whole names match, a topic created later at its next
// heartbeat, and an invalid regex is INVALID_REGULAR_EXPRESSION.
func TestConsumerRegexSubscription(t *testing.T) {
	topics := map[string]TopicInfo{"orders": {ID: [16]byte{1}, Partitions: 1}, "orders-v2": {ID: [16]byte{2}, Partitions: 1}, "xorders": {ID: [16]byte{3}, Partitions: 1}}
	names := func() []string {
		var out []string
		for n := range topics {
			out = append(out, n)
		}
		return out
	}
	g := NewConsumer("g", ConsumerConfig{TopicNames: names}, func(n string) (TopicInfo, bool) { ti, ok := topics[n]; return ti, ok })
	now := time.Unix(0, 0)
	hb := func(ev CHeartbeat) CResult {
		ev.Token = 1
		return replyOf(g.Step(now, ev)).(CResult)
	}
	ids := func(r CResult) []byte {
		var out []byte
		for _, t := range r.Assignment {
			out = append(out, t.TopicID[0])
		}
		slices.Sort(out)
		return out
	}
	bad := "orders("
	if r := hb(CHeartbeat{MemberID: "a", SubscribedRegex: &bad}); r.Err != kerr.InvalidRegularExpression {
		t.Fatalf("invalid regex: %v, want INVALID_REGULAR_EXPRESSION", r.Err)
	}
	re := "orders.*"
	r := hb(CHeartbeat{MemberID: "a", SubscribedRegex: &re, Rebalance: 10 * time.Second})
	if r.Err != nil || !slices.Equal(ids(r), []byte{1, 2}) {
		t.Fatalf("joined with %q: %v, topics %v; want orders and orders-v2 (not xorders)", re, r.Err, ids(r))
	}
	topics["orders-v3"] = TopicInfo{ID: [16]byte{4}, Partitions: 1}
	r = hb(CHeartbeat{MemberID: "a", MemberEpoch: r.Epoch})
	if r.Err != nil || !slices.Equal(ids(r), []byte{1, 2, 4}) {
		t.Fatalf("after orders-v3 was created: %v, topics %v; want it assigned too", r.Err, ids(r))
	}
	if d := g.Describe(); len(d.Members) != 1 || d.Members[0].SubscribedRegex != re {
		t.Fatalf("describe: %+v", d.Members)
	}
}

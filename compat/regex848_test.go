package compat

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKIP848RegexSubscription: a KIP-848 consumer subscribing by regular
// expression (SubscribedTopicRegex) gets the partitions of every topic
// whose whole name the broker matches, including a topic created after it
// joined. franz-go's Test848RegexBrokerResolves does the same against
// Kafka 4.
func TestKIP848RegexSubscription(t *testing.T) {
	tg := startBroker(t)
	pfx := topicName(t) + "-"
	for _, name := range []string{pfx + "orders", pfx + "orders-v2", pfx + "other"} {
		createTopic(t, tg, name, 1, nil)
	}
	producer := newKgo(t, tg)
	produce := func(topic string) {
		t.Helper()
		if err := producer.ProduceSync(testCtx(t, 20*time.Second), &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
	for _, name := range []string{pfx + "orders", pfx + "orders-v2", pfx + "other"} {
		produce(name)
	}
	cl := newKgo(t, tg,
		kgo.ServerSideBalancer(),
		kgo.ConsumerGroup(topicName(t, "group")),
		kgo.ConsumeRegex(),
		kgo.ConsumeTopics(pfx+"orders.*"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.MetadataMinAge(100*time.Millisecond),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	seen := map[string]bool{}
	consumeUntil := func(want ...string) {
		t.Helper()
		ctx := testCtx(t, 30*time.Second)
		missing := func() []string {
			var m []string
			for _, w := range want {
				if !seen[w] {
					m = append(m, w)
				}
			}
			return m
		}
		for len(missing()) > 0 && ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachTopic(func(ft kgo.FetchTopic) {
				if len(ft.Records()) > 0 {
					seen[ft.Topic] = true
				}
			})
		}
		if m := missing(); len(m) > 0 {
			t.Fatalf("did not consume from %v (consumed %v)", m, seen)
		}
	}
	consumeUntil(pfx+"orders", pfx+"orders-v2")
	createTopic(t, tg, pfx+"orders-v3", 1, nil)
	produce(pfx + "orders-v3")
	consumeUntil(pfx + "orders-v3")
	if seen[pfx+"other"] {
		t.Fatalf("consumed %s, which the regex does not match", pfx+"other")
	}
}

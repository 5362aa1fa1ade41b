package heraldtest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/heraldtest"
)

// TestEndToEnd creates a topic, produces, consumes, restarts the broker and
// consumes everything again.
func TestEndToEnd(t *testing.T) {
	b := heraldtest.NewBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	adm := newAdmin(t, b)
	resp, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("-1")}, "orders")
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}

	const n = 300
	prod := newClient(t, b)
	for i := range n {
		r := &kgo.Record{Topic: "orders", Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprintf("value-%d", i)),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}
		prod.Produce(ctx, r, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	results := prod.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: 0, Value: []byte("last")})
	if err := results.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	got := consumeAll(ctx, t, b, "orders", n+1)
	checkRecords(t, got, n+1)

	offsets, err := adm.ListEndOffsets(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offsets.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != n+1 {
		t.Fatalf("end offsets sum to %d, want %d", total, n+1)
	}

	prod.Close()
	adm.Close()
	b.Restart()

	got = consumeAll(ctx, t, b, "orders", n+1)
	checkRecords(t, got, n+1)
	adm = newAdmin(t, b)
	cfgs, err := adm.DescribeTopicConfigs(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On("orders", nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe configs: %v %v", err, rc.Err)
	}
	found := false
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" && c.Value != nil && *c.Value == "-1" {
			found = true
		}
	}
	if !found {
		t.Fatalf("retention.ms=-1 did not survive the restart: %+v", rc.Configs)
	}
}

func newClient(t *testing.T, b *heraldtest.Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newAdmin(t *testing.T, b *heraldtest.Broker) *kadm.Client {
	return kadm.NewClient(newClient(t, b))
}

func consumeAll(ctx context.Context, t *testing.T, b *heraldtest.Broker, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := newClient(t, b, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func checkRecords(t *testing.T, recs []*kgo.Record, n int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("got %d records, want %d", len(recs), n)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[string(r.Value)] = true
	}
	for i := range n - 1 {
		if !seen[fmt.Sprintf("value-%d", i)] {
			t.Fatalf("value-%d missing", i)
		}
	}
}

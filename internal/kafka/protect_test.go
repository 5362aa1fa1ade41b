package kafka_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/heraldtest"
)

func newClients(t *testing.T, addr string, opts ...kgo.Opt) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequestRetries(2)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// TestProtectedTopics: clients cannot delete the internal topics or the
// registry's, delete their records, add partitions to them, or produce to
// the internal ones, as Kafka answers: INVALID_TOPIC_EXCEPTION. The
// registry's topic takes registry records only.
func TestProtectedTopics(t *testing.T) {
	b := heraldtest.NewBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, adm := newClients(t, b.Addr(), kgo.DisableIdempotentWrite())
	if _, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "_schemas"); err != nil {
		t.Fatal(err)
	}
	protected := []string{"__consumer_offsets", "__transaction_state", "_schemas"}
	for _, name := range protected {
		resp, err := adm.DeleteTopics(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := resp[name].Err; !errors.Is(err, kerr.InvalidTopicException) {
			t.Errorf("DeleteTopics %s: %v, want INVALID_TOPIC_EXCEPTION", name, err)
		}
		drs, err := adm.DeleteRecords(ctx, kadm.Offsets{name: {0: {Topic: name, Partition: 0, At: -1}}})
		if err != nil {
			t.Fatal(err)
		}
		if dr, _ := drs.Lookup(name, 0); !errors.Is(dr.Err, kerr.InvalidTopicException) {
			t.Errorf("DeleteRecords %s: %v, want INVALID_TOPIC_EXCEPTION", name, dr.Err)
		}
		cps, err := adm.CreatePartitions(ctx, 1, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := cps[name].Err; !errors.Is(err, kerr.InvalidTopicException) {
			t.Errorf("CreatePartitions %s: %v, want INVALID_TOPIC_EXCEPTION", name, err)
		}
	}
	tds, err := adm.ListTopicsWithInternal(ctx, protected...)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range protected {
		if td, ok := tds[name]; !ok || td.Err != nil || len(td.Partitions) == 0 {
			t.Errorf("%s is gone or changed after the refused requests: %+v", name, td)
		}
	}
	for _, tc := range []struct {
		topic      string
		key, value string
		want       error
	}{
		{"__consumer_offsets", "k", "v", kerr.InvalidTopicException},
		{"__transaction_state", "k", "v", kerr.InvalidTopicException},
		{"_schemas", "k", "v", kerr.InvalidRecord},
		{"_schemas", `{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`, `{"subject":"t","version":1,"id":1,"schema":"\"int\""}`, kerr.InvalidRecord},
		{"_schemas", `{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`, `{"subject":"s","version":1,"id":1,"schema":"\"int\""}`, nil},
		{"_schemas", `{"keytype":"NOOP","magic":0}`, "", nil},
	} {
		r := &kgo.Record{Topic: tc.topic, Key: []byte(tc.key)}
		if tc.value != "" {
			r.Value = []byte(tc.value)
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
			t.Errorf("produce %s to %s: %v, want %v", tc.key, tc.topic, err, tc.want)
		}
	}
}

// TestForgedOffsetCommit: a client producing an offset commit record into
// __consumer_offsets is refused, so a group's committed offset is what
// the group committed, before and after a restart.
func TestForgedOffsetCommit(t *testing.T) {
	b := heraldtest.NewBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, adm := newClients(t, b.Addr(), kgo.DisableIdempotentWrite())
	if _, err := adm.CreateTopic(ctx, 1, -1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 5, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "g", offs); err != nil {
		t.Fatal(err)
	}

	key := kmsg.NewOffsetCommitKey()
	key.Version, key.Group, key.Topic, key.Partition = 1, "g", "orders", 0
	val := kmsg.NewOffsetCommitValue()
	val.Version, val.Offset, val.LeaderEpoch = 3, 999, -1
	tds, err := adm.ListTopicsWithInternal(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	for p := range tds["__consumer_offsets"].Partitions {
		r := &kgo.Record{Topic: "__consumer_offsets", Partition: p, Key: key.AppendTo(nil), Value: val.AppendTo(nil)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); !errors.Is(err, kerr.InvalidTopicException) {
			t.Fatalf("forged commit into __consumer_offsets[%d]: %v, want INVALID_TOPIC_EXCEPTION", p, err)
		}
	}
	check := func(when string) {
		t.Helper()
		fetched, err := adm.FetchOffsets(ctx, "g")
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := fetched.Lookup("orders", 0); !ok || o.Err != nil || o.At != 5 {
			t.Fatalf("%s: committed offset %+v, want 5", when, o)
		}
	}
	check("before restart")
	cl.Close()
	b.Restart()
	_, adm = newClients(t, b.Addr())
	check("after restart")
}

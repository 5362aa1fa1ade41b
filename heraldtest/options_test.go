package heraldtest_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/heraldtest"
)

func partitions(ctx context.Context, t *testing.T, adm *kadm.Client, topic string) (int, error) {
	t.Helper()
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	d := md.Topics[topic]
	return len(d.Partitions), d.Err
}

// TestTopicOptions: WithPartitions sizes auto-created topics, WithTopics
// creates topics up front, WithAutoCreate(false) turns auto-creation off.
func TestTopicOptions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	b := heraldtest.NewBroker(t, heraldtest.WithDurability("none"), heraldtest.WithPartitions(3),
		heraldtest.WithTopics(2, "orders", "payments"))
	adm := newAdmin(t, b)
	for _, topic := range []string{"orders", "payments"} {
		if n, err := partitions(ctx, t, adm, topic); n != 2 || err != nil {
			t.Errorf("%s: %d partitions, %v; want 2", topic, n, err)
		}
	}
	cl := newClient(t, b, kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "auto", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if n, err := partitions(ctx, t, adm, "auto"); n != 3 || err != nil {
		t.Errorf("auto-created: %d partitions, %v; want 3", n, err)
	}

	off := heraldtest.NewBroker(t, heraldtest.WithDurability("none"), heraldtest.WithAutoCreate(false))
	if _, err := partitions(ctx, t, newAdmin(t, off), "auto"); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("without auto-create: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	if off.RegistryURL() != "" {
		t.Errorf("registry URL %q without WithRegistry", off.RegistryURL())
	}
}

// TestRegistry: WithRegistry starts a registry on the broker; it keeps
// serving across a broker restart, and the broker checks values against
// it on topics with herald.schema.validation=true, restart or not.
func TestRegistry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := heraldtest.NewBroker(t, heraldtest.WithRegistry())
	rcl, err := sr.NewClient(sr.URLs(b.RegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := rcl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: `"string"`})
	if err != nil {
		t.Fatal(err)
	}
	on := "true"
	if _, err := newAdmin(t, b).CreateTopic(ctx, 1, 1, map[string]*string{"herald.schema.validation": &on}, "orders"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b, kgo.RecordRetries(1))
	wire := func(id int) []byte { return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(id)), 2, 'x') }
	check := func(when string) {
		t.Helper()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: wire(ss.ID)}).FirstErr(); err != nil {
			t.Errorf("%s: registered id: %v", when, err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: wire(ss.ID + 100)}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
			t.Errorf("%s: unknown id: %v, want INVALID_RECORD", when, err)
		}
	}
	check("before restart")
	b.Restart()
	if _, err := rcl.CreateSchema(ctx, "payments-value", sr.Schema{Schema: `"long"`}); err != nil {
		t.Fatalf("register after restart: %v", err)
	}
	check("after restart")
}

// TestStart: outside a test, Start gives a broker the caller closes;
// Close removes its temporary data dir and is idempotent.
func TestStart(t *testing.T) {
	b, err := heraldtest.Start(heraldtest.WithDurability("none"), heraldtest.WithRegistry())
	if err != nil {
		t.Fatal(err)
	}
	dir := b.DataDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClient(t, b, kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("data dir %s after close: %v", dir, err)
	}
}

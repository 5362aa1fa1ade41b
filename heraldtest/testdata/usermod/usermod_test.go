// Package usermod_test uses heraldtest and the SDK from another module,
// through their public API only: a broker with its registry, produce and
// consume with franz-go, a schema registered and read through the
// registry URL, and events decoded with the reader's schema.
package usermod_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/event/srcodec"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/pubsub"
)

type orderV1 struct {
	ID  string `avro:"id"`
	Qty int64  `avro:"qty"`
}

type orderV2 struct {
	ID       string `avro:"id"`
	Qty      int64  `avro:"qty"`
	Currency string `avro:"currency"`
}

const (
	avroV1 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"qty","type":"long"}]}`
	avroV2 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"qty","type":"long"},{"name":"currency","type":"string","default":"EUR"}]}`
)

func TestFromAnotherModule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := heraldtest.NewBroker(t,
		heraldtest.WithDurability("none"),
		heraldtest.WithPartitions(2),
		heraldtest.WithAutoCreate(true),
		heraldtest.WithTopics(3, "orders"),
		heraldtest.WithRegistry(),
	)

	rcl, err := sr.NewClient(sr.URLs(b.RegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	// A v1 producer writes; then v2 is registered (BACKWARD allows it).
	v1 := srcodec.AutoRegister(rcl, sr.Schema{Type: sr.TypeAvro, Schema: avroV1})
	e, err := event.Encode(ctx, v1, "orders", "/shop", "order.placed", orderV1{ID: "o-1", Qty: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, e.Record("orders")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := rcl.CreateSchema(ctx, "orders-value", sr.Schema{Type: sr.TypeAvro, Schema: avroV2}); err != nil {
		t.Fatal(err)
	}

	// A v2 consumer reads the v1 event: v2's default fills the new field.
	cons, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var rec *kgo.Record
	for rec == nil {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		if rs := fs.Records(); len(rs) > 0 {
			rec = rs[0]
		}
	}
	got, err := event.FromRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	v2 := srcodec.AutoRegister(rcl, sr.Schema{Type: sr.TypeAvro, Schema: avroV2})
	o, err := event.Decode[orderV2](ctx, v2, got)
	if err != nil || o != (orderV2{ID: "o-1", Qty: 2, Currency: "EUR"}) {
		t.Fatalf("decoded %+v, %v", o, err)
	}

	// Auto-created topics take WithPartitions; restarts keep the data.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "audit", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	ss, err := rcl.SchemaByVersion(ctx, "orders-value", 2)
	if err != nil || ss.Schema.Schema != avroV2 {
		t.Fatalf("version 2 after restart: %v", err)
	}
}

type charge struct {
	Order string `json:"order"`
}

type receipt struct {
	Number string `json:"number"`
}

// TestSDKFromAnotherModule: typed dispatch and request/reply through the
// public API of pubsub.
func TestSDKFromAnotherModule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := heraldtest.NewBroker(t, heraldtest.WithDurability("none"), heraldtest.WithTopics(2, "billing.charge", "replies"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pub := pubsub.NewPublisher(cl, pubsub.WithSource("/usermod"))
	r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: []string{b.Addr()}, Group: "billing", UnknownType: pubsub.DeadLetterUnknown})
	if err != nil {
		t.Fatal(err)
	}
	if err := pubsub.HandleRequest(r, pub, "billing.charge", "billing.charge", func(_ context.Context, c charge) (receipt, error) {
		return receipt{Number: "R-" + c.Order}, nil
	}); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	defer func() {
		r.Close()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}()
	q, err := pubsub.NewRequester(ctx, pubsub.NewCommandBus(pub, nil), pubsub.RequesterConfig{Brokers: []string{b.Addr()}, ReplyTopic: "replies"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	got, err := pubsub.Request[receipt](ctx, q, "billing.charge", "o-9", charge{Order: "o-9"})
	if err != nil || got.Number != "R-o-9" {
		t.Fatalf("Request = %+v, %v", got, err)
	}
}

// TestWorkQueueFromAnotherModule: a router in work-queue mode (a share
// group) handles what is published, through the public API.
func TestWorkQueueFromAnotherModule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := heraldtest.NewBroker(t, heraldtest.WithDurability("none"), heraldtest.WithTopics(1, "jobs"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: []string{b.Addr()}, Group: "workers", WorkQueue: true})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	if err := r.Handle("jobs", func(_ context.Context, m *pubsub.Message) error {
		got <- string(m.Record.Value)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "jobs", Value: []byte("resize")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	defer func() {
		r.Close()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}()
	select {
	case v := <-got:
		if v != "resize" {
			t.Fatalf("handled %q", v)
		}
	case <-ctx.Done():
		t.Fatal("the job was not handled")
	}
}

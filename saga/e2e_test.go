package saga_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
	"github.com/heraldhq/herald/saga"
)

func newTopics(b *pubsubtest.Broker) topics {
	return topics{Inventory: b.Topic("inventory", 2), Payments: b.Topic("payments", 2),
		Shipping: b.Topic("shipping", 2), Replies: b.Topic("replies", 1)}
}

// runAll runs fs until the test ends.
func runAll(t *testing.T, fs ...func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, len(fs))
	for _, f := range fs {
		go func() { done <- f(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		for range fs {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	})
}

// TestOrderSagaEndToEnd runs 12 orders through the order saga on a real
// broker (every third is declined), then delivers every reply again: the
// duplicates are recorded and change nothing.
func TestOrderSagaEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		b := pubsubtest.New(t)
		tp := newTopics(b)
		_, st := be.open(t)
		s := newShop()
		services, err := s.services(b.Seeds, pubsubtest.Group("shop"), tp, logger())
		if err != nil {
			t.Fatal(err)
		}
		relay, err := outbox.NewRelay(be.ob, b.Client(), outbox.RelayConfig{PollInterval: 20 * time.Millisecond, Logger: logger()})
		if err != nil {
			t.Fatal(err)
		}
		r, err := saga.NewRunner(saga.Config{Store: st, Brokers: b.Seeds, Group: pubsubtest.Group("saga"),
			ReplyTopics: []string{tp.Replies}, PollInterval: 50 * time.Millisecond, Logger: logger(),
			ClientOpts: []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Register(orderSaga(s, tp, 20*time.Second)); err != nil {
			t.Fatal(err)
		}
		runAll(t, relay.Run, services.Run, r.Run)
		var ids []string
		for i := range 12 {
			o := Order{ID: fmt.Sprint("o-", i), Amount: 10}
			if i%3 == 0 {
				o.Amount = 1000
			}
			ids = append(ids, o.ID)
			if _, err := r.Start(ctx, "order", o.ID, o); err != nil {
				t.Fatal(err)
			}
		}
		testenv.CheckFor(t, 60*time.Second, func() error { return atRest(ctx, st, ids...) })
		versions := map[string]int64{}
		for i, id := range ids {
			in, err := st.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			versions[id] = in.Version
			want, effects := saga.Done, []string{"placed", "reserved", "charged", "shipped"}
			if i%3 == 0 {
				want, effects = saga.Compensated, []string{"placed", "reserved", "declined", "released", "cancelled"}
			}
			if in.Status != want {
				t.Fatalf("%s: %s (%s), want %s", id, in.Status, in.Error, want)
			}
			for _, what := range effects {
				if n := s.count(what, id); n != 1 {
					t.Fatalf("%s: %s %d times", id, what, n)
				}
			}
		}
		redeliver(t, b, tp.Replies, st)
		for _, id := range ids {
			if in, _ := st.Get(ctx, id); in.Version != versions[id] {
				t.Fatalf("%s moved from version %d to %d on duplicate replies", id, versions[id], in.Version)
			}
		}
		if tw := s.twice(); len(tw) > 0 {
			t.Fatalf("commands executed twice: %v", tw)
		}
	})
}

// redeliver publishes every record of the replies topic again, then a
// sentinel reply, and waits for the runner to record the sentinel: the
// topic has one partition, so the duplicates were handled before it.
func redeliver(t *testing.T, b *pubsubtest.Broker, topic string, st *saga.Store) {
	t.Helper()
	ctx := context.Background()
	cl := b.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	adm := b.Client()
	var recs []*kgo.Record
	end := endOffset(t, adm, topic)
	for int64(len(recs)) < end {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			recs = append(recs, &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: r.Headers})
		})
	}
	sentinel := event.New("/test", "stock.reserved", nil)
	sentinel.CorrelationID = "sentinel"
	recs = append(recs, sentinel.Record(topic))
	if err := adm.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	testenv.CheckFor(t, 30*time.Second, func() error {
		out, err := st.ReplyOutcome(ctx, sentinel.ID)
		if err != nil || out == "" {
			return fmt.Errorf("sentinel not handled yet: %w", err)
		}
		return nil
	})
}

func endOffset(t *testing.T, cl *kgo.Client, topic string) int64 {
	t.Helper()
	offs, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	offs.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

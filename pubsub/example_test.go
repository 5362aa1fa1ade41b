package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/pubsub"
)

// A publisher and a router on an in-process broker: one event, handled.
func Example() {
	broker, _ := heraldtest.Start(heraldtest.WithDurability("none"), heraldtest.WithTopics(1, "orders"))
	defer broker.Close()
	cl, _ := kgo.NewClient(kgo.SeedBrokers(broker.Addr()))
	defer cl.Close()

	type Order struct{ ID string }
	pub := pubsub.NewPublisher(cl, pubsub.WithSource("/shop"))
	if _, err := pub.PublishValue(context.Background(), "orders", "order.placed", "o-1", Order{ID: "o-1"}); err != nil {
		fmt.Println(err)
		return
	}

	r, _ := pubsub.NewRouter(pubsub.RouterConfig{Brokers: []string{broker.Addr()}, Group: "billing", Logger: quiet})
	done := make(chan struct{})
	r.Handle("orders", pubsub.Typed(event.JSON, func(_ context.Context, m *pubsub.Message, o Order) error {
		fmt.Println(m.Event.Type, m.Event.Source, o.ID)
		close(done)
		return nil
	}))
	go r.Run(context.Background())
	<-done
	r.Close()
	// Output: order.placed /shop o-1
}

func ExampleDeadLetter() {
	m := &pubsub.Message{
		Record:  &kgo.Record{Topic: "orders", Partition: 2, Offset: 41, Key: []byte("o-1")},
		Attempt: 5, Group: "billing",
	}
	rec := pubsub.DeadLetter(m, "orders.dlq", errors.New("card declined"))
	for _, h := range rec.Headers {
		if h.Key != pubsub.HeaderDLQTime {
			fmt.Printf("%s=%s\n", h.Key, h.Value)
		}
	}
	// Output:
	// dlq_error=card declined
	// dlq_attempts=5
	// dlq_topic=orders
	// dlq_partition=2
	// dlq_offset=41
	// dlq_group=billing
	// dlq_redrives=0
}

func ExampleBackoff_Delay() {
	b := pubsub.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: 0.000001}
	for failed := 1; failed <= 5; failed++ {
		fmt.Println(b.Delay(failed).Round(time.Millisecond))
	}
	// Output:
	// 100ms
	// 200ms
	// 400ms
	// 800ms
	// 1s
}

func ExampleChain() {
	tag := func(name string) pubsub.Middleware {
		return func(next pubsub.Handler) pubsub.Handler {
			return func(ctx context.Context, m *pubsub.Message) error {
				fmt.Println("enter", name)
				return next(ctx, m)
			}
		}
	}
	h := pubsub.Chain(func(context.Context, *pubsub.Message) error { fmt.Println("handler"); return nil }, tag("outer"), tag("inner"))
	_ = h(context.Background(), &pubsub.Message{})
	// Output:
	// enter outer
	// enter inner
	// handler
}

// Typed handlers for the event types of one topic.
func ExampleOn() {
	broker, _ := heraldtest.Start(heraldtest.WithDurability("none"), heraldtest.WithTopics(1, "orders"))
	defer broker.Close()
	cl, _ := kgo.NewClient(kgo.SeedBrokers(broker.Addr()))
	defer cl.Close()

	type OrderPlaced struct{ ID string }
	type OrderCancelled struct{ ID, Reason string }
	pub := pubsub.NewPublisher(cl, pubsub.WithSource("/shop"))
	ctx := context.Background()
	_, _ = pub.PublishValue(ctx, "orders", "order.placed", "o-1", OrderPlaced{ID: "o-1"})
	_, _ = pub.PublishValue(ctx, "orders", "order.shipped", "o-1", struct{}{}) // no handler: skipped
	_, _ = pub.PublishValue(ctx, "orders", "order.cancelled", "o-1", OrderCancelled{ID: "o-1", Reason: "late"})

	r, _ := pubsub.NewRouter(pubsub.RouterConfig{Brokers: []string{broker.Addr()}, Group: "billing", Logger: quiet})
	done := make(chan struct{})
	_ = pubsub.On(r, "orders", "order.placed", func(_ context.Context, o OrderPlaced) error {
		fmt.Println("placed", o.ID)
		return nil
	})
	_ = pubsub.On(r, "orders", "order.cancelled", func(_ context.Context, o OrderCancelled) error {
		fmt.Println("cancelled", o.ID, o.Reason)
		close(done)
		return nil
	})
	go r.Run(ctx)
	<-done
	r.Close()
	// Output:
	// placed o-1
	// cancelled o-1 late
}

// A command sent with a Requester, handled and replied to by a router.
func ExampleRequest() {
	broker, _ := heraldtest.Start(heraldtest.WithDurability("none"), heraldtest.WithTopics(1, "billing.charge", "shop.replies"))
	defer broker.Close()
	cl, _ := kgo.NewClient(kgo.SeedBrokers(broker.Addr()))
	defer cl.Close()
	ctx := context.Background()

	type Charge struct{ Order string }
	type Receipt struct{ Number string }
	pub := pubsub.NewPublisher(cl, pubsub.WithSource("/shop"))
	r, _ := pubsub.NewRouter(pubsub.RouterConfig{Brokers: []string{broker.Addr()}, Group: "billing", Logger: quiet})
	_ = pubsub.HandleRequest(r, pub, "billing.charge", "billing.charge", func(_ context.Context, c Charge) (Receipt, error) {
		return Receipt{Number: "R-" + c.Order}, nil
	})
	go r.Run(ctx)
	defer r.Close()

	bus := pubsub.NewCommandBus(pub, nil) // the topic is the command type
	q, err := pubsub.NewRequester(ctx, bus, pubsub.RequesterConfig{Brokers: []string{broker.Addr()}, ReplyTopic: "shop.replies", Timeout: 20 * time.Second, Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()
	receipt, err := pubsub.Request[Receipt](ctx, q, "billing.charge", "o-7", Charge{Order: "o-7"})
	fmt.Println(receipt.Number, err)
	// Output: R-o-7 <nil>
}

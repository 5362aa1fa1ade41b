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

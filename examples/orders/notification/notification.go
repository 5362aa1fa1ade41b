// Package notification is the notification service of the
// order-management example: for every change of an order it publishes
// order.status to the order-status topic, keyed by order id, where a
// browser follows it through the console's Server-Sent Events endpoint:
//
//	GET /topics/order-status/events?from=end     (console, herald serve)
//
// It keeps no state, so a redelivered event publishes its status again,
// which a browser shows twice at worst.
package notification

import (
	"context"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/pubsub"
)

// Service is the notification service.
type Service struct{ env shop.Env }

// New returns the notification service.
func New(env shop.Env) *Service { return &Service{env: env} }

var statuses = map[string]string{
	shop.OrderPlacedType: shop.StatusPlaced, shop.OrderPaidType: shop.StatusPaid, shop.OrderShippedType: shop.StatusShipped,
	shop.OrderCancelledType: shop.StatusCancelled, shop.OrderRejectedType: shop.StatusRejected,
}

// Run publishes statuses until ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	cl, err := s.env.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	pub := pubsub.NewPublisher(cl, pubsub.WithSource("/notification"))
	r, err := s.env.Router("notification")
	if err != nil {
		return err
	}
	if err := r.Handle(shop.TopicOrders, func(ctx context.Context, m *pubsub.Message) error { return s.notify(ctx, pub, m) }); err != nil {
		return err
	}
	return r.Run(ctx)
}

func (s *Service) notify(ctx context.Context, pub *pubsub.Publisher, m *pubsub.Message) error {
	status, ok := statuses[m.Event.Type]
	if !ok || m.Event.Subject == "" {
		return nil
	}
	st := shop.OrderStatus{OrderID: m.Event.Subject, Status: status}
	if m.Event.Type == shop.OrderCancelledType || m.Event.Type == shop.OrderRejectedType {
		end, err := event.Decode[shop.OrderEnded](ctx, s.env.Codec, m.Event)
		if err != nil {
			return pubsub.Permanent(err)
		}
		st.Reason = end.Reason
	}
	e, err := s.env.Codec.New(ctx, shop.TopicStatus, "/notification", shop.OrderStatusType, st.OrderID, st)
	if err != nil {
		return err
	}
	return pub.Publish(ctx, shop.TopicStatus, e)
}

package orders

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/examples/orders/shop"
)

// Order is the event-sourced order aggregate's state, folded from its
// stream "order-<id>".
type Order struct {
	Placed  shop.OrderPlaced // OrderID is empty until the order is placed
	Paid    bool
	Shipped bool
	Ended   string // "", StatusCancelled or StatusRejected
	Reason  string // why it ended
}

// Status is the order's status as the read model shows it.
func (o Order) Status() string {
	switch {
	case o.Ended != "":
		return o.Ended
	case o.Shipped:
		return shop.StatusShipped
	case o.Paid:
		return shop.StatusPaid
	case o.Placed.OrderID != "":
		return shop.StatusPlaced
	}
	return ""
}

// Errors of the order aggregate.
var (
	ErrNotFound = errors.New("order not found")
	ErrTooLate  = errors.New("order is paid or over: it can no longer be cancelled")
	ErrNotPaid  = errors.New("order is not paid")
)

// Stream is the event store stream of order id.
func Stream(id string) string { return "order-" + id }

// command is what the aggregate decides on.
type command struct {
	// ctx is the context of the caller: Decide encodes the events through
	// the schema registry, and links them to the event ctx carries.
	ctx    context.Context
	kind   string // place, pay, ship, cancel, reject
	corr   string // the flow's correlation id, when ctx carries no event
	placed shop.OrderPlaced
	// channel, if set, makes place write order.placed v2 with it.
	channel string
	paid    shop.OrderPaid
	track   string
	reason  string
}

// aggregate returns the order aggregate, whose events codec encodes.
func aggregate(codec *shop.Codec) *eventstore.Aggregate[Order, command] {
	return &eventstore.Aggregate[Order, command]{
		Decide:     func(o Order, c command) ([]event.Event, error) { return decide(codec, o, c) },
		Evolve:     func(o Order, r eventstore.Recorded) (Order, error) { return evolve(codec, o, r) },
		MaxRetries: 20,
	}
}

// decide checks c against o. Commands that repeat what happened already
// (a redelivered event, a saga step called again) decide nothing, so
// every caller may retry.
func decide(codec *shop.Codec, o Order, c command) ([]event.Event, error) {
	typ, data, err := decision(o, c)
	if err != nil || typ == "" {
		return nil, err
	}
	id := o.Placed.OrderID
	if c.kind == "place" {
		id = c.placed.OrderID
	}
	e, err := codec.New(c.ctx, shop.TopicOrders, "/orders", typ, Stream(id), data)
	if err != nil {
		return nil, err
	}
	e.Subject, e.CorrelationID = id, c.corr
	return []event.Event{event.Link(c.ctx, e)}, nil
}

// decision is the event type (none: "") and data c produces against o.
func decision(o Order, c command) (string, any, error) {
	placed, over := o.Placed.OrderID != "", o.Ended != ""
	if !placed && c.kind != "place" {
		return "", nil, ErrNotFound
	}
	switch c.kind {
	case "place":
		if placed {
			return "", nil, nil
		}
		if c.channel != "" {
			return shop.OrderPlacedType, shop.OrderPlacedV2{OrderPlaced: c.placed, Channel: c.channel}, nil
		}
		return shop.OrderPlacedType, c.placed, nil
	case "pay":
		if o.Paid || over {
			return "", nil, nil
		}
		return shop.OrderPaidType, c.paid, nil
	case "ship":
		if o.Shipped || over {
			return "", nil, nil
		}
		if !o.Paid {
			return "", nil, ErrNotPaid
		}
		return shop.OrderShippedType, shop.OrderShipped{OrderID: o.Placed.OrderID, Tracking: c.track}, nil
	case "cancel", "reject":
		if over {
			return "", nil, nil
		}
		if o.Paid {
			return "", nil, ErrTooLate
		}
		typ := shop.OrderCancelledType
		if c.kind == "reject" {
			typ = shop.OrderRejectedType
		}
		return typ, shop.OrderEnded{OrderID: o.Placed.OrderID, Reason: c.reason}, nil
	}
	return "", nil, fmt.Errorf("unknown order command %q", c.kind)
}

// evolve folds one event into the order.
func evolve(codec *shop.Codec, o Order, r eventstore.Recorded) (Order, error) {
	ctx := context.Background()
	switch r.Type {
	case shop.OrderPlacedType:
		p, err := event.Decode[shop.OrderPlaced](ctx, codec, r.Event)
		o.Placed = p
		return o, err
	case shop.OrderPaidType:
		o.Paid = true
	case shop.OrderShippedType:
		o.Shipped = true
	case shop.OrderCancelledType, shop.OrderRejectedType:
		end, err := event.Decode[shop.OrderEnded](ctx, codec, r.Event)
		if err != nil {
			return o, err
		}
		o.Ended, o.Reason = shop.StatusCancelled, end.Reason
		if r.Type == shop.OrderRejectedType {
			o.Ended = shop.StatusRejected
		}
	default:
		return o, fmt.Errorf("unknown order event %q", r.Type)
	}
	return o, nil
}

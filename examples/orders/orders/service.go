package orders

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/projection"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/saga"
)

// Service is the orders service. Its methods are safe for concurrent use.
type Service struct {
	env     shop.Env
	db      *shop.DB
	store   eventstore.Store
	ob      outbox.Store
	proj    *projection.Runner
	view    string // the read model's view
	agg     *eventstore.Aggregate[Order, command]
	catalog *shop.Catalog
	sagas   *saga.Runner // orchestration only
	sagaDB  *shop.DB     // the saga tables and their outbox
	sagaOb  outbox.Store // the saga's commands
	// v2After is how many orders Place writes as order.placed v1 before
	// it switches to v2 (0: never); placedN counts them.
	v2After, placedN atomic.Int64
}

// WriteV2After switches Place to version 2 of order.placed (with the
// request's channel) after n more orders: the schema evolves while the
// other services, built for v1, keep running. n <= 0 keeps v1.
func (s *Service) WriteV2After(n int) {
	s.placedN.Store(0)
	s.v2After.Store(int64(n))
}

// New opens the orders service on db: the event store, whose appends
// write their events to the outbox in the same transaction, and the read
// model. In the orchestrated style the saga tables and the outbox of
// their commands are in sagaDB, a database of their own, so that saga
// transitions and order appends do not queue for one SQLite file.
func New(ctx context.Context, env shop.Env, db, sagaDB *shop.DB) (*Service, error) {
	ob, err := db.Outbox(ctx)
	if err != nil {
		return nil, err
	}
	store, err := db.EventStore(ctx, eventstore.OutboxHook(ob, shop.TopicOrders))
	if err != nil {
		return nil, err
	}
	proj, err := db.Projections(ctx, store)
	if err != nil {
		return nil, err
	}
	s := &Service{env: env, db: db, store: store, ob: ob, proj: proj, view: db.T("order_status"),
		agg: aggregate(env.Codec), catalog: shop.NewCatalog(), sagaDB: sagaDB}
	if err := proj.Register(ctx, statusProjection(s.view, env.Codec)); err != nil {
		return nil, err
	}
	if env.Saga == shop.Orchestration {
		if sagaDB == nil {
			return nil, errors.New("orders: the orchestrated saga needs its database")
		}
		if s.sagas, err = s.sagaRunner(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Store is the service's event store (the test compares it with the read
// model).
func (s *Service) Store() eventstore.Store { return s.store }

// Sagas is the saga store (orchestration), or nil.
func (s *Service) Sagas() *saga.Store {
	if s.sagas == nil {
		return nil
	}
	return s.sagas.Store()
}

// Projections is the service's projection runner (the read model), for
// the console's projections page.
func (s *Service) Projections() *projection.Runner { return s.proj }

// Run runs the service until ctx is cancelled: the outbox relay, the
// projection, the catalogue reader, and the handlers of the saga style.
func (s *Service) Run(ctx context.Context) error {
	relay, cl, err := s.env.Relay(s.ob, "orders")
	if err != nil {
		return err
	}
	defer cl.Close()
	r, err := s.router()
	if err != nil {
		return err
	}
	runs := []func(context.Context) error{relay.Run, s.proj.Run, r.Run,
		func(ctx context.Context) error { return s.catalog.Follow(ctx, s.env) }}
	if s.sagas != nil {
		sagaRelay, cl, err := s.env.Relay(s.sagaOb, "orders-saga")
		if err != nil {
			return err
		}
		defer cl.Close()
		runs = append(runs, s.sagas.Run, sagaRelay.Run)
	}
	return shop.RunAll(ctx, runs...)
}

func (s *Service) router() (*pubsub.Router, error) {
	r, err := s.env.Router("orders")
	if err != nil {
		return nil, err
	}
	if err := r.Handle(shop.TopicUnpaid, s.onUnpaid); err != nil {
		return nil, err
	}
	if s.env.Saga == shop.Orchestration {
		return r, pubsub.On(r, shop.TopicOrders, shop.OrderPlacedType, s.startSaga)
	}
	return r, errors.Join(
		pubsub.On(r, shop.TopicInventory, shop.StockUnavailableType, func(ctx context.Context, v shop.StockUnavailable) error {
			return s.handle(ctx, v.OrderID, command{kind: "reject", reason: v.Reason})
		}),
		pubsub.On(r, shop.TopicInventory, shop.StockReleasedType, func(ctx context.Context, v shop.StockReleased) error {
			return s.handle(ctx, v.OrderID, command{kind: "cancel", reason: "payment declined"})
		}),
		pubsub.On(r, shop.TopicPayments, shop.PaymentChargedType, func(ctx context.Context, v shop.Payment) error {
			return s.handle(ctx, v.OrderID, command{kind: "pay", paid: shop.OrderPaid{OrderID: v.OrderID, Amount: v.Amount, ChargeID: v.ChargeID}})
		}),
		pubsub.On(r, shop.TopicShipping, shop.ShipmentShippedType, func(ctx context.Context, v shop.ShipmentShipped) error {
			return s.handle(ctx, v.OrderID, command{kind: "ship", track: v.Tracking})
		}),
	)
}

// handle applies c to order id, for an event handler: a command the
// order refuses for good is a Permanent failure (dead-lettered).
func (s *Service) handle(ctx context.Context, id string, c command) error {
	c.ctx = ctx
	_, _, err := s.agg.Handle(ctx, s.store, Stream(id), c)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrTooLate) {
		return pubsub.Permanent(err)
	}
	return err
}

// PlaceRequest is the body of POST /orders.
type PlaceRequest struct {
	Customer string `json:"customer"`
	Card     string `json:"card"`
	// Channel is where the order comes from (web, app, pos): order.placed
	// v2 records it, v1 has no such field.
	Channel string `json:"channel,omitempty"`
	Items   []struct {
		SKU string `json:"sku"`
		Qty int64  `json:"qty"`
	} `json:"items"`
}

// ErrBadRequest wraps what is wrong with a request.
var ErrBadRequest = errors.New("bad request")

// Place places an order: its items priced from the catalogue, its
// order.placed event appended to the order's new stream (and so written
// to the outbox in the same transaction), with correlation id corr (a new
// one if empty).
func (s *Service) Place(ctx context.Context, corr string, req PlaceRequest) (shop.OrderPlaced, string, error) {
	p := shop.OrderPlaced{OrderID: event.NewID(), Customer: req.Customer, Card: req.Card}
	if p.Customer == "" || p.Card == "" || len(req.Items) == 0 {
		return p, "", fmt.Errorf("%w: customer, card and items are required", ErrBadRequest)
	}
	select {
	case <-s.catalog.Ready():
	case <-ctx.Done():
		return p, "", ctx.Err()
	}
	for _, it := range req.Items {
		prod, ok := s.catalog.Get(it.SKU)
		if !ok || it.Qty <= 0 {
			return p, "", fmt.Errorf("%w: unknown product %q or quantity %d", ErrBadRequest, it.SKU, it.Qty)
		}
		p.Items = append(p.Items, shop.Item{SKU: it.SKU, Qty: it.Qty, Price: prod.Price})
		p.Total += it.Qty * prod.Price
	}
	if corr == "" {
		corr = event.NewID()
	}
	c := command{ctx: ctx, kind: "place", corr: corr, placed: p}
	if n := s.v2After.Load(); n > 0 && s.placedN.Add(1) > n {
		c.channel = cmp.Or(req.Channel, shop.DefaultChannel)
	}
	_, _, err := s.agg.Handle(ctx, s.store, Stream(p.OrderID), c)
	return p, corr, err
}

// Cancel cancels order id for its customer: only before it is paid. In
// the orchestrated style the saga is then aborted, which undoes what its
// steps did.
func (s *Service) Cancel(ctx context.Context, id string) (Order, error) {
	return s.cancel(ctx, id, "cancelled by the customer")
}

// cancel cancels order id, for reason, in its own flow (correlation id);
// the cancellation's causation is the event ctx carries, if any. In the
// choreographed style the order.cancelled event sets off the rest:
// inventory releases the stock, payment voids or refunds the charge.
func (s *Service) cancel(ctx context.Context, id, reason string) (Order, error) {
	corr, err := s.correlation(ctx, id)
	if err != nil {
		return Order{}, err
	}
	_, o, err := s.agg.Handle(ctx, s.store, Stream(id), command{ctx: ctx, kind: "cancel", corr: corr, reason: reason})
	if err != nil || s.sagas == nil {
		return o, err
	}
	if _, err := s.sagas.Abort(ctx, corr, reason); err != nil && !errors.Is(err, saga.ErrNotFound) {
		return o, err
	}
	return o, nil
}

// onUnpaid cancels an order the fraud service found unpaid after its
// timeout, through the same path as a customer's cancellation. The
// fraud service's record is not a CloudEvent (stream processing writes
// plain values), so the cancellation is linked to the order.placed it
// answers, keeping the order's flow whole. An order paid meanwhile
// stays paid.
func (s *Service) onUnpaid(ctx context.Context, m *pubsub.Message) error {
	var u shop.UnpaidOrder
	if err := json.Unmarshal(m.Event.Data, &u); err != nil || u.OrderID == "" {
		return pubsub.Permanent(fmt.Errorf("unpaid order record %q: %w", m.Event.Data, errors.Join(err, ErrBadRequest)))
	}
	recs, err := s.store.ReadStream(ctx, Stream(u.OrderID), eventstore.ReadOptions{Max: 1})
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return pubsub.Permanent(fmt.Errorf("unpaid order %s: %w", u.OrderID, ErrNotFound))
	}
	_, err = s.cancel(event.NewContext(ctx, recs[0].Event), u.OrderID, u.Reason())
	if errors.Is(err, ErrTooLate) {
		return nil // paid after all: too late to cancel
	}
	return err
}

// correlation is the correlation id of order id's flow.
func (s *Service) correlation(ctx context.Context, id string) (string, error) {
	recs, err := s.store.ReadStream(ctx, Stream(id), eventstore.ReadOptions{Max: 1})
	if err != nil || len(recs) == 0 {
		return "", errors.Join(ErrNotFound, err)
	}
	return recs[0].CorrelationID, nil
}

// Load returns order id as the event store has it.
func (s *Service) Load(ctx context.Context, id string) (Order, error) {
	o, _, err := s.agg.Load(ctx, s.store, Stream(id))
	return o, err
}

// Lag is how far the read model is behind the event store.
func (s *Service) Lag(ctx context.Context) (int64, error) {
	st, err := s.proj.Status(ctx)
	if err != nil || len(st) == 0 {
		return 0, err
	}
	if st[0].Stopped {
		return st[0].Lag, fmt.Errorf("read model stopped at %d: %s", st[0].ErrorAt, st[0].Error)
	}
	return st[0].Lag, nil
}

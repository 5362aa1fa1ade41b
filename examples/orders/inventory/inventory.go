// Package inventory is the inventory service of the order-management
// example: stock levels and reservations in its own database, and its
// copy of the product catalogue, kept from the compacted catalog topic
// (event-carried state transfer: no call to a catalogue service).
//
// Stock never goes negative: a reservation takes every line of an order
// or none, checked and written in one transaction that holds the rows
// (PostgreSQL: SELECT ... FOR UPDATE in SKU order; SQLite: the write lock
// the transaction takes when it begins), and the table's CHECK refuses a
// negative level anyway. Every handler records the event id it handles in
// the same transaction as its change and its outgoing events
// (dedup.SQL.InTx, outbox.Write), so a redelivered event changes nothing.
//
//	choreography  order.placed     → stock.reserved | stock.unavailable
//	              payment.declined → stock.released
//	              order.cancelled  → stock.released
//	orchestration stock.reserve    → stock.reserved | stock.unavailable (replies)
//	              stock.release    → stock.released
//
// A release before any reservation (a compensation of a reservation that
// never arrived) leaves a released row, so the late reservation is then
// refused.
package inventory

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/dedup"
)

// Service is the inventory service.
type Service struct {
	env shop.Env
	db  *shop.DB
	ob  outbox.Store
	dd  *dedup.SQL
}

// Reservation states.
const (
	Reserved = "reserved"
	Released = "released"
	Refused  = "refused"
)

// New opens the inventory service on db, creating its tables.
func New(ctx context.Context, env shop.Env, db *shop.DB) (*Service, error) {
	ob, err := db.Outbox(ctx)
	if err != nil {
		return nil, err
	}
	dd, err := db.Dedup(ctx)
	if err != nil {
		return nil, err
	}
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS ` + db.T("products") + ` (sku TEXT PRIMARY KEY, name TEXT NOT NULL,
			price BIGINT NOT NULL, stock BIGINT NOT NULL CHECK (stock >= 0))`,
		`CREATE TABLE IF NOT EXISTS ` + db.T("reservations") + ` (order_id TEXT PRIMARY KEY, status TEXT NOT NULL,
			items TEXT NOT NULL)`,
	} {
		if _, err := db.SQL.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("inventory tables: %w", err)
		}
	}
	return &Service{env: env, db: db, ob: ob, dd: dd}, nil
}

// Run runs the relay and the handlers until ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	relay, cl, err := s.env.Relay(s.ob, "inventory")
	if err != nil {
		return err
	}
	defer cl.Close()
	r, err := s.env.Router("inventory")
	if err != nil {
		return err
	}
	err = r.Handle(shop.TopicCatalog, s.dd.InTx(s.onCatalog))
	if s.env.Saga == shop.Orchestration {
		err = errors.Join(err, r.Handle(shop.TopicInventoryCommands, s.dd.InTx(s.onCommand)))
	} else {
		err = errors.Join(err, r.Handle(shop.TopicOrders, s.dd.InTx(s.onOrder)), r.Handle(shop.TopicPayments, s.dd.InTx(s.onPayment)))
	}
	if err != nil {
		return err
	}
	return shop.RunAll(ctx, relay.Run, r.Run)
}

// onCatalog keeps the local copy of a listed product. A new product
// starts with the stock the catalogue gives; a known one keeps its level.
func (s *Service) onCatalog(ctx context.Context, tx *sql.Tx, m *pubsub.Message) error {
	if m.Event.Type != shop.ProductListedType {
		return nil
	}
	p, err := event.Decode[shop.Product](ctx, s.env.Codec, m.Event)
	if err != nil {
		return pubsub.Permanent(err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO `+s.db.T("products")+` (sku, name, price, stock) VALUES ($1, $2, $3, $4)
		ON CONFLICT (sku) DO UPDATE SET name = excluded.name, price = excluded.price`, p.SKU, p.Name, p.Price, p.Stock)
	return err
}

func (s *Service) onOrder(ctx context.Context, tx *sql.Tx, m *pubsub.Message) error {
	switch m.Event.Type {
	case shop.OrderPlacedType:
		o, err := event.Decode[shop.OrderPlaced](ctx, s.env.Codec, m.Event)
		if err != nil {
			return pubsub.Permanent(err)
		}
		return s.reserveAndTell(ctx, tx, o, s.emit)
	case shop.OrderCancelledType:
		o, err := event.Decode[shop.OrderEnded](ctx, s.env.Codec, m.Event)
		if err != nil {
			return pubsub.Permanent(err)
		}
		return s.releaseAndTell(ctx, tx, o.OrderID, s.emit)
	}
	return nil
}

func (s *Service) onPayment(ctx context.Context, tx *sql.Tx, m *pubsub.Message) error {
	if m.Event.Type != shop.PaymentDeclinedType {
		return nil
	}
	p, err := event.Decode[shop.Payment](ctx, s.env.Codec, m.Event)
	if err != nil {
		return pubsub.Permanent(err)
	}
	return s.releaseAndTell(ctx, tx, p.OrderID, s.emit)
}

// onCommand handles the orchestrated saga's commands and replies on the
// saga's reply topic, in JSON.
func (s *Service) onCommand(ctx context.Context, tx *sql.Tx, m *pubsub.Message) error {
	var o shop.OrderPlaced
	if err := json.Unmarshal(m.Event.Data, &o); err != nil {
		return pubsub.Permanent(err)
	}
	switch m.Event.Type {
	case shop.ReserveStockCommand:
		return s.reserveAndTell(ctx, tx, o, s.reply)
	case shop.ReleaseStockCommand:
		return s.releaseAndTell(ctx, tx, o.OrderID, s.reply)
	}
	return nil
}

// tell writes an outgoing event of type typ with data v, keyed by the
// order, to the outbox in tx.
type tell func(ctx context.Context, tx *sql.Tx, typ, order string, v any) error

// emit tells through the inventory topic, with the type's schema.
func (s *Service) emit(ctx context.Context, tx *sql.Tx, typ, order string, v any) error {
	e, err := s.env.Codec.New(ctx, shop.TopicInventory, "/inventory", typ, order, v)
	if err != nil {
		return err
	}
	return outbox.Write(ctx, tx, s.ob, shop.TopicInventory, e)
}

// reply tells the saga, in JSON.
func (s *Service) reply(ctx context.Context, tx *sql.Tx, typ, order string, v any) error {
	e, err := event.Encode(ctx, event.JSON, shop.TopicSagaReplies, "/inventory", typ, v)
	if err != nil {
		return err
	}
	e.Key = order
	return outbox.Write(ctx, tx, s.ob, shop.TopicSagaReplies, e)
}

func (s *Service) reserveAndTell(ctx context.Context, tx *sql.Tx, o shop.OrderPlaced, t tell) error {
	short, err := s.reserve(ctx, tx, o)
	if err != nil {
		return err
	}
	if short != "" {
		return t(ctx, tx, shop.StockUnavailableType, o.OrderID, shop.StockUnavailable{OrderID: o.OrderID, SKU: short, Reason: "out of stock: " + short})
	}
	return t(ctx, tx, shop.StockReservedType, o.OrderID, shop.StockReserved{Order: o})
}

func (s *Service) releaseAndTell(ctx context.Context, tx *sql.Tx, order string, t tell) error {
	if err := s.release(ctx, tx, order); err != nil {
		return err
	}
	return t(ctx, tx, shop.StockReleasedType, order, shop.StockReleased{OrderID: order})
}

// lines merges an order's items by SKU, in SKU order (the lock order).
func lines(items []shop.Item) []shop.Item {
	qty := map[string]int64{}
	for _, it := range items {
		qty[it.SKU] += it.Qty
	}
	out := make([]shop.Item, 0, len(qty))
	for sku, q := range qty {
		out = append(out, shop.Item{SKU: sku, Qty: q})
	}
	slices.SortFunc(out, func(a, b shop.Item) int {
		switch {
		case a.SKU < b.SKU:
			return -1
		case a.SKU > b.SKU:
			return 1
		}
		return 0
	})
	return out
}

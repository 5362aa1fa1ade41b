// Package shipping is the shipping service of the order-management
// example: it ships paid orders, once each (the shipments table's key and
// the handled event's id, recorded in the same transaction as the
// shipment and its outgoing event).
//
//	choreography  order.paid    → shipment.shipped
//	orchestration shipping.ship → shipment.shipped (reply)
package shipping

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/dedup"
)

// Service is the shipping service.
type Service struct {
	env shop.Env
	db  *shop.DB
	ob  outbox.Store
	dd  *dedup.SQL
}

// New opens the shipping service on db.
func New(ctx context.Context, env shop.Env, db *shop.DB) (*Service, error) {
	ob, err := db.Outbox(ctx)
	if err != nil {
		return nil, err
	}
	dd, err := db.Dedup(ctx)
	if err != nil {
		return nil, err
	}
	_, err = db.SQL.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+db.T("shipments")+` (order_id TEXT PRIMARY KEY, tracking TEXT NOT NULL)`)
	if err != nil {
		return nil, fmt.Errorf("shipping tables: %w", err)
	}
	return &Service{env: env, db: db, ob: ob, dd: dd}, nil
}

// Run runs the relay and the handlers until ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	relay, cl, err := s.env.Relay(s.ob, "shipping")
	if err != nil {
		return err
	}
	defer cl.Close()
	r, err := s.env.Router("shipping")
	if err != nil {
		return err
	}
	if s.env.Saga == shop.Orchestration {
		err = r.Handle(shop.TopicShippingCommands, s.dd.InTx(s.onCommand))
	} else {
		err = r.Handle(shop.TopicOrders, s.dd.InTx(s.onOrder))
	}
	if err != nil {
		return err
	}
	return shop.RunAll(ctx, relay.Run, r.Run)
}

func (s *Service) onOrder(ctx context.Context, tx *sql.Tx, m *pubsub.Message) error {
	if m.Event.Type != shop.OrderPaidType {
		return nil
	}
	v, err := event.Decode[shop.OrderPaid](ctx, s.env.Codec, m.Event)
	if err != nil {
		return pubsub.Permanent(err)
	}
	shipped, err := s.ship(ctx, tx, v.OrderID)
	if err != nil {
		return err
	}
	e, err := s.env.Codec.New(ctx, shop.TopicShipping, "/shipping", shop.ShipmentShippedType, v.OrderID, shipped)
	if err != nil {
		return err
	}
	return outbox.Write(ctx, tx, s.ob, shop.TopicShipping, e)
}

func (s *Service) onCommand(ctx context.Context, tx *sql.Tx, m *pubsub.Message) error {
	var o shop.OrderPlaced
	if err := json.Unmarshal(m.Event.Data, &o); err != nil || m.Event.Type != shop.ShipCommand {
		return pubsub.Permanent(errors.Join(err, fmt.Errorf("unexpected command %s", m.Event.Type)))
	}
	shipped, err := s.ship(ctx, tx, o.OrderID)
	if err != nil {
		return err
	}
	e, err := event.Encode(ctx, event.JSON, shop.TopicSagaReplies, "/shipping", shop.ShipmentShippedType, shipped)
	if err != nil {
		return err
	}
	e.Key = o.OrderID
	return outbox.Write(ctx, tx, s.ob, shop.TopicSagaReplies, e)
}

// ship ships order once; a repeat answers with the first shipment.
func (s *Service) ship(ctx context.Context, tx *sql.Tx, order string) (shop.ShipmentShipped, error) {
	v := shop.ShipmentShipped{OrderID: order}
	err := tx.QueryRowContext(ctx, `SELECT tracking FROM `+s.db.T("shipments")+` WHERE order_id = $1`, order).Scan(&v.Tracking)
	if err == nil || !errors.Is(err, sql.ErrNoRows) {
		return v, err
	}
	v.Tracking = "TRK-" + event.NewID()
	_, err = tx.ExecContext(ctx, `INSERT INTO `+s.db.T("shipments")+` (order_id, tracking) VALUES ($1, $2)`, order, v.Tracking)
	return v, err
}

// Shipments returns the tracking number of every shipped order.
func (s *Service) Shipments(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT order_id, tracking FROM `+s.db.T("shipments"))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, tr string
		if err := rows.Scan(&id, &tr); err != nil {
			return nil, err
		}
		out[id] = tr
	}
	return out, rows.Err()
}

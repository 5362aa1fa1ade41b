// Package payment is the payment service of the order-management
// example: it charges orders through an external payment provider
// (simulated by Provider, with latency and failures) and keeps what it
// charged in its own database.
//
// Charges are idempotent twice over: the handled event's id is recorded
// in the transaction that records the charge and writes the outgoing
// event (dedup.SQL.InTx), and the provider is asked with the order id as
// its idempotency key, so a charge asked again after a crash between the
// provider's answer and the commit is the same charge. An order is never
// charged twice.
//
//	choreography  stock.reserved  → payment.charged | payment.declined
//	              order.cancelled → payment.refunded (if it was charged)
//	orchestration payment.charge  → payment.charged | payment.declined (replies)
//	              payment.refund  → payment.refunded
package payment

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

// Charge states in the charges table.
const (
	Charged  = "charged"
	Declined = "declined"
	Refunded = "refunded"
	Pending  = "pending" // the provider awaits an authentication: nothing to tell yet
	Void     = "void"    // cancelled before any charge: a later charge is declined
)

// Service is the payment service.
type Service struct {
	env      shop.Env
	db       *shop.DB
	ob       outbox.Store
	dd       *dedup.SQL
	provider *Provider
}

// New opens the payment service on db, charging through provider.
func New(ctx context.Context, env shop.Env, db *shop.DB, provider *Provider) (*Service, error) {
	ob, err := db.Outbox(ctx)
	if err != nil {
		return nil, err
	}
	dd, err := db.Dedup(ctx)
	if err != nil {
		return nil, err
	}
	_, err = db.SQL.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+db.T("charges")+` (order_id TEXT PRIMARY KEY,
		charge_id TEXT NOT NULL, amount BIGINT NOT NULL, status TEXT NOT NULL)`)
	if err != nil {
		return nil, fmt.Errorf("payment tables: %w", err)
	}
	return &Service{env: env, db: db, ob: ob, dd: dd, provider: provider}, nil
}

// Run runs the relay and the handlers until ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	relay, cl, err := s.env.Relay(s.ob, "payment")
	if err != nil {
		return err
	}
	defer cl.Close()
	r, err := s.env.Router("payment")
	if err != nil {
		return err
	}
	if s.env.Saga == shop.Orchestration {
		err = r.Handle(shop.TopicPaymentCommands, s.onCommand)
	} else {
		err = errors.Join(r.Handle(shop.TopicInventory, s.onStock), r.Handle(shop.TopicOrders, s.dd.InTx(s.onOrder)))
	}
	if err != nil {
		return err
	}
	return shop.RunAll(ctx, relay.Run, r.Run)
}

func (s *Service) onStock(ctx context.Context, m *pubsub.Message) error {
	if m.Event.Type != shop.StockReservedType {
		return nil
	}
	v, err := event.Decode[shop.StockReserved](ctx, s.env.Codec, m.Event)
	if err != nil {
		return pubsub.Permanent(err)
	}
	return s.charge(ctx, m, v.Order, s.emit)
}

func (s *Service) onOrder(ctx context.Context, tx *sql.Tx, m *pubsub.Message) error {
	if m.Event.Type != shop.OrderCancelledType {
		return nil
	}
	v, err := event.Decode[shop.OrderEnded](ctx, s.env.Codec, m.Event)
	if err != nil {
		return pubsub.Permanent(err)
	}
	return s.refund(ctx, tx, v.OrderID, s.emitRefund)
}

func (s *Service) onCommand(ctx context.Context, m *pubsub.Message) error {
	var o shop.OrderPlaced
	if err := json.Unmarshal(m.Event.Data, &o); err != nil {
		return pubsub.Permanent(err)
	}
	switch m.Event.Type {
	case shop.ChargeCommand:
		return s.charge(ctx, m, o, s.reply)
	case shop.RefundCommand:
		return s.dd.InTx(func(ctx context.Context, tx *sql.Tx, _ *pubsub.Message) error {
			return s.refund(ctx, tx, o.OrderID, s.reply)
		})(ctx, m)
	}
	return nil
}

type tell func(ctx context.Context, tx *sql.Tx, typ string, p shop.Payment) error

// emit tells through the payments topic (Avro).
func (s *Service) emit(ctx context.Context, tx *sql.Tx, typ string, p shop.Payment) error {
	e, err := s.env.Codec.New(ctx, shop.TopicPayments, "/payment", typ, p.OrderID, p)
	if err != nil {
		return err
	}
	return outbox.Write(ctx, tx, s.ob, shop.TopicPayments, e)
}

// emitRefund tells of refunds only: a cancelled order that was declined or
// never charged has nothing to tell.
func (s *Service) emitRefund(ctx context.Context, tx *sql.Tx, typ string, p shop.Payment) error {
	if p.Status != Refunded {
		return nil
	}
	return s.emit(ctx, tx, typ, p)
}

// reply tells the saga, in JSON.
func (s *Service) reply(ctx context.Context, tx *sql.Tx, typ string, p shop.Payment) error {
	e, err := event.Encode(ctx, event.JSON, shop.TopicSagaReplies, "/payment", typ, p)
	if err != nil {
		return err
	}
	e.Key = p.OrderID
	return outbox.Write(ctx, tx, s.ob, shop.TopicSagaReplies, e)
}

// charge charges order o once: an order charged, declined or voided
// already is answered from its row. The provider is asked before the
// transaction begins, so that its latency holds no database lock; its
// idempotency key (the order id) makes asking again safe, after a failed
// attempt or a crash before the commit.
func (s *Service) charge(ctx context.Context, m *pubsub.Message, o shop.OrderPlaced, t tell) error {
	var c Charge
	var known bool
	err := s.db.SQL.QueryRowContext(ctx, `SELECT 1 FROM `+s.db.T("charges")+` WHERE order_id = $1`, o.OrderID).Scan(new(int))
	switch {
	case err == nil:
		known = true
	case !errors.Is(err, sql.ErrNoRows):
		return err
	default:
		if c, err = s.provider.Charge(ctx, o.OrderID, o.Card, o.Total); errors.Is(err, ErrUnavailable) {
			return pubsub.Transient(err)
		} else if err != nil {
			return err
		}
	}
	return s.dd.InTx(func(ctx context.Context, tx *sql.Tx, _ *pubsub.Message) error {
		return s.record(ctx, tx, o, c, known, t)
	})(ctx, m)
}

// record records charge c of order o (unless the order has a row: then
// it tells what the row says) and tells its outcome.
func (s *Service) record(ctx context.Context, tx *sql.Tx, o shop.OrderPlaced, c Charge, known bool, t tell) error {
	row, ok, err := s.row(ctx, tx, o.OrderID)
	if err != nil {
		return err
	}
	if ok {
		if row.Status == Pending {
			return nil // still waiting: nothing to tell
		}
		if row.Status == Void && !known && !c.Declined {
			// Cancelled while the provider charged: give it back.
			if err := s.provider.Refund(ctx, o.OrderID); err != nil {
				return err
			}
		}
		return t(ctx, tx, outcome(row.Status), row)
	}
	if known {
		return fmt.Errorf("charge of %s: its row is gone", o.OrderID)
	}
	p := shop.Payment{OrderID: o.OrderID, Amount: o.Total, ChargeID: c.ID, Status: Charged}
	switch {
	case c.Declined:
		p.Status, p.Reason = Declined, "card declined"
	case c.Pending:
		p.Status = Pending
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+s.db.T("charges")+` (order_id, charge_id, amount, status) VALUES ($1, $2, $3, $4)`,
		p.OrderID, p.ChargeID, p.Amount, p.Status); err != nil {
		return err
	}
	if p.Status == Pending {
		return nil // the order waits; if it is never paid, it is cancelled, and refund voids the charge
	}
	return t(ctx, tx, outcome(p.Status), p)
}

// refund refunds a charged order, and voids one not charged yet or whose
// charge is pending.
func (s *Service) refund(ctx context.Context, tx *sql.Tx, order string, t tell) error {
	row, ok, err := s.row(ctx, tx, order)
	if err != nil {
		return err
	}
	switch {
	case !ok:
		row = shop.Payment{OrderID: order, Status: Void}
		_, err = tx.ExecContext(ctx, `INSERT INTO `+s.db.T("charges")+` (order_id, charge_id, amount, status) VALUES ($1, '', 0, $2)`, order, Void)
	case row.Status == Charged, row.Status == Pending:
		if err := s.provider.Refund(ctx, order); err != nil {
			return err
		}
		if row.Status == Pending {
			row.Status, row.Reason = Void, "order cancelled"
		} else {
			row.Status = Refunded
		}
		_, err = tx.ExecContext(ctx, `UPDATE `+s.db.T("charges")+` SET status = $1 WHERE order_id = $2`, row.Status, order)
	}
	if err != nil {
		return err
	}
	return t(ctx, tx, shop.PaymentRefundedType, row)
}

// outcome is the event type that tells a charge's status.
func outcome(status string) string {
	switch status {
	case Charged:
		return shop.PaymentChargedType
	case Refunded:
		return shop.PaymentRefundedType
	}
	return shop.PaymentDeclinedType
}

func (s *Service) row(ctx context.Context, tx *sql.Tx, order string) (shop.Payment, bool, error) {
	p := shop.Payment{OrderID: order}
	err := tx.QueryRowContext(ctx, `SELECT charge_id, amount, status FROM `+s.db.T("charges")+` WHERE order_id = $1`+s.db.ForUpdate(), order).
		Scan(&p.ChargeID, &p.Amount, &p.Status)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if p.Status == Void {
		p.Reason = "order cancelled"
	}
	return p, err == nil, err
}

// Charges returns the charges table, by order id.
func (s *Service) Charges(ctx context.Context) (map[string]shop.Payment, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT order_id, charge_id, amount, status FROM `+s.db.T("charges"))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]shop.Payment{}
	for rows.Next() {
		var p shop.Payment
		if err := rows.Scan(&p.OrderID, &p.ChargeID, &p.Amount, &p.Status); err != nil {
			return nil, err
		}
		out[p.OrderID] = p
	}
	return out, rows.Err()
}

package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/saga"
)

// SagaType is the orchestrated order saga's type.
const SagaType = "order"

// sagaInput is the saga's input, and the data of every command it sends
// (services read it as a shop.OrderPlaced).
type sagaInput struct {
	shop.OrderPlaced
	Correlation string `json:"correlation_id"`
}

// definition is the order saga, run in orders when --saga=orchestration:
//
//	order     (nothing to do: the order is placed)   compensation: reject or cancel the order
//	stock     stock.reserve   → stock.reserved | stock.unavailable   compensation: stock.release
//	payment   payment.charge  → payment.charged | payment.declined   compensation: payment.refund
//	paid      the order is paid (in process)
//	shipping  shipping.ship   → shipment.shipped
//	shipped   the order is shipped (in process)
//
// Out of stock: stock fails, the order step's compensation rejects the
// order. Payment declined: the stock is released, then the order is
// cancelled.
// The saga's time limits: longer than the unpaid rule's default timeout
// (15 minutes), which is what ends an order whose charge stays pending.
const (
	paymentStepTimeout = 20 * time.Minute
	sagaTimeout        = 30 * time.Minute
)

func (s *Service) definition() saga.Definition {
	cmd := func(topic, command, ok, failed string) saga.Action {
		return saga.Action{Topic: topic, Command: command, Success: ok, Failure: failed}
	}
	return saga.Definition{Name: SagaType, Source: "/orders/saga", Timeout: sagaTimeout, Steps: []saga.Step{
		{Name: "order", Action: saga.Action{Func: noop}, Compensation: saga.Action{Func: s.endOrder}},
		{Name: "stock", Action: cmd(shop.TopicInventoryCommands, shop.ReserveStockCommand, shop.StockReservedType, shop.StockUnavailableType),
			Compensation: cmd(shop.TopicInventoryCommands, shop.ReleaseStockCommand, shop.StockReleasedReply, "")},
		// A charge may stay pending (an authentication the customer has
		// not done) until the fraud service's unpaid rule cancels the order
		// (15 minutes by default), so the step waits longer than that
		// rather than failing on its own first.
		{Name: "payment", Action: cmd(shop.TopicPaymentCommands, shop.ChargeCommand, shop.PaymentChargedType, shop.PaymentDeclinedType),
			Timeout: paymentStepTimeout, Compensation: cmd(shop.TopicPaymentCommands, shop.RefundCommand, shop.PaymentRefundedReply, "")},
		{Name: "paid", Action: saga.Action{Func: s.markPaid}, NoCompensation: true},
		{Name: "shipping", Action: cmd(shop.TopicShippingCommands, shop.ShipCommand, shop.ShipmentShippedType, ""), NoCompensation: true},
		{Name: "shipped", Action: saga.Action{Func: s.markShipped}},
	}}
}

func (s *Service) sagaRunner(ctx context.Context) (*saga.Runner, error) {
	var err error
	if s.sagaOb, err = s.sagaDB.Outbox(ctx); err != nil {
		return nil, err
	}
	st, err := s.sagaDB.Sagas(ctx, s.sagaOb)
	if err != nil {
		return nil, err
	}
	r, err := saga.NewRunner(saga.Config{Store: st, Brokers: s.env.Brokers, Group: "orders-saga",
		ReplyTopics: []string{shop.TopicSagaReplies}, ClientOpts: s.env.ClientOpts,
		PollInterval: 100 * time.Millisecond, Logger: s.env.Logger})
	if err != nil {
		return nil, err
	}
	return r, r.Register(s.definition())
}

// startSaga starts the saga of a placed order, as its instance whose id
// is the order's correlation id. It reacts to order.placed rather than
// being called by Place, so that an order whose append committed always
// gets its saga, even if the process stopped right after the append.
func (s *Service) startSaga(ctx context.Context, p shop.OrderPlaced) error {
	corr, err := s.correlation(ctx, p.OrderID)
	if err != nil {
		return err
	}
	if _, err := s.sagas.Store().Get(ctx, corr); err == nil {
		return nil // a redelivery: the saga runs already
	}
	_, err = s.sagas.Start(ctx, SagaType, corr, sagaInput{OrderPlaced: p, Correlation: corr})
	if errors.Is(err, saga.ErrExists) {
		return nil
	}
	return err
}

func noop(context.Context, saga.Data) (json.RawMessage, error) { return nil, nil }

// input decodes the saga's input.
func input(d saga.Data) (sagaInput, error) {
	var in sagaInput
	err := json.Unmarshal(d["input"], &in)
	return in, err
}

// endOrder is the order step's compensation: an order whose stock was
// reserved failed later (payment declined) and is cancelled; one whose
// stock was not is rejected.
func (s *Service) endOrder(ctx context.Context, d saga.Data) (json.RawMessage, error) {
	in, err := input(d)
	if err != nil {
		return nil, err
	}
	c := command{ctx: ctx, kind: "reject", corr: in.Correlation, reason: "out of stock"}
	if _, reserved := d["stock"]; reserved {
		c.kind, c.reason = "cancel", "payment declined"
	}
	_, _, err = s.agg.Handle(ctx, s.store, Stream(in.OrderID), c)
	return nil, err
}

// markPaid records the payment in the order. An order that ended
// meanwhile (cancelled by its customer) fails the step, and the saga
// refunds the payment and releases the stock.
func (s *Service) markPaid(ctx context.Context, d saga.Data) (json.RawMessage, error) {
	in, err := input(d)
	if err != nil {
		return nil, err
	}
	var charged struct {
		ChargeID string `json:"charge_id"`
	}
	if err := json.Unmarshal(d["payment"], &charged); err != nil {
		return nil, fmt.Errorf("payment reply: %w", err)
	}
	paid := shop.OrderPaid{OrderID: in.OrderID, Amount: in.Total, ChargeID: charged.ChargeID}
	_, o, err := s.agg.Handle(ctx, s.store, Stream(in.OrderID), command{ctx: ctx, kind: "pay", corr: in.Correlation, paid: paid})
	if err == nil && o.Ended != "" {
		err = fmt.Errorf("order %s is %s", in.OrderID, o.Ended)
	}
	return nil, err
}

// markShipped records the shipment in the order.
func (s *Service) markShipped(ctx context.Context, d saga.Data) (json.RawMessage, error) {
	in, err := input(d)
	if err != nil {
		return nil, err
	}
	var shipped shop.ShipmentShipped
	if err := json.Unmarshal(d["shipping"], &shipped); err != nil {
		return nil, fmt.Errorf("shipping reply: %w", err)
	}
	_, _, err = s.agg.Handle(ctx, s.store, Stream(in.OrderID), command{ctx: ctx, kind: "ship", corr: in.Correlation, track: shipped.Tracking})
	return nil, err
}

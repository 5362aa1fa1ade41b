package orders

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/projection"
)

// View is an order as the read model (the projection order_status) has
// it: what GET /orders/{id} answers.
type View struct {
	OrderID       string `json:"order_id"`
	Customer      string `json:"customer"`
	Total         int64  `json:"total"`
	Status        string `json:"status"`
	Reason        string `json:"reason,omitempty"`
	CorrelationID string `json:"correlation_id"`
	Position      int64  `json:"position"` // the last event applied to the row
}

// statusProjection is the read model: one row per order, kept by the
// projection runner from the event store's $all, in one transaction with
// its checkpoint.
func statusProjection(name string, codec *shop.Codec) projection.Projection {
	return projection.Projection{
		Name: name,
		Setup: func(ctx context.Context, tx *sql.Tx, table string) error {
			_, err := tx.ExecContext(ctx, `CREATE TABLE `+table+` (order_id TEXT PRIMARY KEY, customer TEXT NOT NULL,
				total BIGINT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, correlation_id TEXT NOT NULL,
				position BIGINT NOT NULL)`)
			return err
		},
		Apply: func(ctx context.Context, tx *sql.Tx, table string, r eventstore.Recorded) error {
			return applyStatus(ctx, tx, table, codec, r)
		},
	}
}

func applyStatus(ctx context.Context, tx *sql.Tx, table string, codec *shop.Codec, r eventstore.Recorded) error {
	id, ok := strings.CutPrefix(r.Stream, "order-")
	if !ok {
		return nil
	}
	var err error
	switch r.Type {
	case shop.OrderPlacedType:
		var p shop.OrderPlaced
		if p, err = event.Decode[shop.OrderPlaced](ctx, codec, r.Event); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO `+table+` (order_id, customer, total, status, reason, correlation_id, position)
			VALUES ($1, $2, $3, $4, '', $5, $6)`, id, p.Customer, p.Total, shop.StatusPlaced, r.CorrelationID, r.Position)
	case shop.OrderPaidType, shop.OrderShippedType:
		status := map[string]string{shop.OrderPaidType: shop.StatusPaid, shop.OrderShippedType: shop.StatusShipped}[r.Type]
		_, err = tx.ExecContext(ctx, `UPDATE `+table+` SET status = $1, position = $2 WHERE order_id = $3`, status, r.Position, id)
	case shop.OrderCancelledType, shop.OrderRejectedType:
		var end shop.OrderEnded
		if end, err = event.Decode[shop.OrderEnded](ctx, codec, r.Event); err != nil {
			return err
		}
		status := map[string]string{shop.OrderCancelledType: shop.StatusCancelled, shop.OrderRejectedType: shop.StatusRejected}[r.Type]
		_, err = tx.ExecContext(ctx, `UPDATE `+table+` SET status = $1, reason = $2, position = $3 WHERE order_id = $4`,
			status, end.Reason, r.Position, id)
	}
	return err
}

const viewColumns = `order_id, customer, total, status, reason, correlation_id, position`

func scanView(row interface{ Scan(...any) error }) (View, error) {
	var v View
	err := row.Scan(&v.OrderID, &v.Customer, &v.Total, &v.Status, &v.Reason, &v.CorrelationID, &v.Position)
	return v, err
}

// View returns order id from the read model; ErrNotFound if it has no
// such order (yet: the projection runs behind the store by a few
// milliseconds).
func (s *Service) View(ctx context.Context, id string) (View, error) {
	v, err := scanView(s.db.SQL.QueryRowContext(ctx, `SELECT `+viewColumns+` FROM `+s.view+` WHERE order_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return v, ErrNotFound
	}
	return v, err
}

// Views returns every order of the read model.
func (s *Service) Views(ctx context.Context) ([]View, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT `+viewColumns+` FROM `+s.view+` ORDER BY order_id`)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	defer rows.Close()
	var out []View
	for rows.Next() {
		v, err := scanView(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

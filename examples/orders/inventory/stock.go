package inventory

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/pubsub"
)

// reserve reserves every line of o, or none: it returns the SKU that is
// short ("" when reserved). A repeat returns what the first decided.
func (s *Service) reserve(ctx context.Context, tx *sql.Tx, o shop.OrderPlaced) (string, error) {
	status, _, err := s.reservation(ctx, tx, o.OrderID)
	if err != nil {
		return "", err
	}
	switch status {
	case Reserved:
		return "", nil
	case Refused, Released:
		return "(" + status + ")", nil
	}
	ls := lines(o.Items)
	short, err := s.short(ctx, tx, ls)
	if err != nil {
		return "", err
	}
	if short == "" {
		for _, l := range ls {
			if _, err := tx.ExecContext(ctx, `UPDATE `+s.db.T("products")+` SET stock = stock - $1 WHERE sku = $2`, l.Qty, l.SKU); err != nil {
				return "", fmt.Errorf("reserve %s: %w", l.SKU, err)
			}
		}
		status = Reserved
	} else {
		status = Refused
	}
	b, _ := json.Marshal(ls)
	_, err = tx.ExecContext(ctx, `INSERT INTO `+s.db.T("reservations")+` (order_id, status, items) VALUES ($1, $2, $3)`, o.OrderID, status, string(b))
	return short, err
}

// short returns the first line's SKU whose stock is below its quantity,
// locking the rows. A SKU inventory does not know yet (the catalogue
// arrives on another topic) fails transiently: the event waits for it.
func (s *Service) short(ctx context.Context, tx *sql.Tx, ls []shop.Item) (string, error) {
	for _, l := range ls {
		var stock int64
		err := tx.QueryRowContext(ctx, `SELECT stock FROM `+s.db.T("products")+` WHERE sku = $1`+s.db.ForUpdate(), l.SKU).Scan(&stock)
		if errors.Is(err, sql.ErrNoRows) {
			return "", pubsub.Transient(fmt.Errorf("product %s is not in the catalogue (yet)", l.SKU))
		}
		if err != nil {
			return "", err
		}
		if stock < l.Qty {
			return l.SKU, nil
		}
	}
	return "", nil
}

// release gives a reserved order's stock back. An order with no
// reservation gets a released one, which refuses a late reservation.
func (s *Service) release(ctx context.Context, tx *sql.Tx, order string) error {
	status, ls, err := s.reservation(ctx, tx, order)
	if err != nil {
		return err
	}
	switch status {
	case "":
		_, err = tx.ExecContext(ctx, `INSERT INTO `+s.db.T("reservations")+` (order_id, status, items) VALUES ($1, $2, '[]')`, order, Released)
		return err
	case Reserved:
		for _, l := range ls {
			if _, err := tx.ExecContext(ctx, `UPDATE `+s.db.T("products")+` SET stock = stock + $1 WHERE sku = $2`, l.Qty, l.SKU); err != nil {
				return fmt.Errorf("release %s: %w", l.SKU, err)
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE `+s.db.T("reservations")+` SET status = $1 WHERE order_id = $2`, Released, order)
		return err
	}
	return nil
}

// reservation returns order's reservation status ("" if none) and lines.
func (s *Service) reservation(ctx context.Context, tx *sql.Tx, order string) (string, []shop.Item, error) {
	var status, items string
	err := tx.QueryRowContext(ctx, `SELECT status, items FROM `+s.db.T("reservations")+` WHERE order_id = $1`+s.db.ForUpdate(), order).Scan(&status, &items)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	var ls []shop.Item
	return status, ls, json.Unmarshal([]byte(items), &ls)
}

// Stock returns every product's stock level.
func (s *Service) Stock(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT sku, stock FROM `+s.db.T("products"))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var sku string
		var n int64
		if err := rows.Scan(&sku, &n); err != nil {
			return nil, err
		}
		out[sku] = n
	}
	return out, rows.Err()
}

// Reservation is an order's reservation as inventory keeps it.
type Reservation struct {
	Status string
	Items  []shop.Item
}

// Reservations returns every reservation, by order id.
func (s *Service) Reservations(ctx context.Context) (map[string]Reservation, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT order_id, status, items FROM `+s.db.T("reservations"))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Reservation{}
	for rows.Next() {
		var id, items string
		var r Reservation
		if err := rows.Scan(&id, &r.Status, &items); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(items), &r.Items); err != nil {
			return nil, err
		}
		out[id] = r
	}
	return out, rows.Err()
}

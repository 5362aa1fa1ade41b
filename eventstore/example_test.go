package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/sqlite"
)

// Order is the orders aggregate's state.
type Order struct {
	ID     string
	Status string // "", placed, paid, shipped
	Total  int
}

// OrderCommand is a command to the orders aggregate.
type OrderCommand struct {
	Kind  string // place, pay, ship
	Total int    // for place
}

var errOrder = errors.New("order")

// decideOrder checks a command against the order's state and returns the
// events it produces.
func decideOrder(o Order, c OrderCommand) ([]event.Event, error) {
	next := map[string]struct{ from, typ string }{
		"place": {"", "order.placed"}, "pay": {"placed", "order.paid"}, "ship": {"paid", "order.shipped"},
	}
	step, ok := next[c.Kind]
	if !ok || o.Status != step.from {
		return nil, fmt.Errorf("%w: cannot %s an order that is %q", errOrder, c.Kind, o.Status)
	}
	data, _ := json.Marshal(c)
	return []event.Event{event.New("/orders", step.typ, data)}, nil
}

// evolveOrder folds one event into the order.
func evolveOrder(o Order, r eventstore.Recorded) (Order, error) {
	o.ID = r.Stream
	switch r.Type {
	case "order.placed":
		var c OrderCommand
		if err := json.Unmarshal(r.Data, &c); err != nil {
			return o, err
		}
		o.Status, o.Total = "placed", c.Total
	case "order.paid":
		o.Status = "paid"
	case "order.shipped":
		o.Status = "shipped"
	default:
		return o, fmt.Errorf("no decoder for event type %q", r.Type)
	}
	return o, nil
}

// The orders aggregate: each command loads the order, decides, and
// appends with the loaded version as the expectation (retrying on a
// conflict with another writer).
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "orders")
	defer os.RemoveAll(dir)
	db, _ := sqlite.Open(filepath.Join(dir, "orders.db"))
	defer db.Close()
	store, _ := sqlite.New(ctx, db, sqlite.Config{})

	orders := eventstore.Aggregate[Order, OrderCommand]{Decide: decideOrder, Evolve: evolveOrder}
	for _, c := range []OrderCommand{{Kind: "place", Total: 42}, {Kind: "pay"}, {Kind: "ship"}} {
		res, o, err := orders.Handle(ctx, store, "order-42", c)
		fmt.Println(c.Kind, "->", o.Status, "version", res.LastVersion, err)
	}
	_, _, err := orders.Handle(ctx, store, "order-42", OrderCommand{Kind: "pay"})
	fmt.Println(err)

	paid, v, _ := orders.LoadAt(ctx, store, "order-42", eventstore.ReadOptions{Until: 2})
	fmt.Println("as of version", v, paid.Status, paid.Total)
	// Output:
	// place -> placed version 0 <nil>
	// pay -> paid version 1 <nil>
	// ship -> shipped version 2 <nil>
	// order: cannot pay an order that is "shipped"
	// as of version 1 paid 42
}

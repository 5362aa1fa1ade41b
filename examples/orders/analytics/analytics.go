// Package analytics is the analytics service of the order-management
// example, a stream processing application (package stream) over the
// orders topic: revenue per minute, from order.paid, and quantities sold
// per product per minute, from order.placed, in one-minute tumbling
// windows by event time. Each window's running result goes to the topic
// analytics (key "revenue" or the SKU, with the window's start), and the
// service keeps the latest of each in memory for Revenue and Products.
//
// The stream package reads keys and values, not CloudEvents headers, so
// the value is decoded (through the registry, whatever the event's
// schema) into one shape with the fields of order.placed and order.paid,
// and an order.paid is told by its charge id.
//
// Each window counts an order once, however often its facts come: the
// window's value keeps the ids of the orders in it (tally). A fact comes
// twice when a producer retried, and when this at-least-once App
// processes again the records since its last commit after a restart or a
// lost generation, in which case its repartition topics get them twice
// too; so the check is in the windows, after the last repartition, where
// it commits with the counts. The ids cost some bytes per order per
// window: a demo's rates, not a big shop's.
package analytics

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/registry/serde"
	"github.com/heraldhq/herald/stream"
)

// Window is the analytics' window size.
const Window = time.Minute

// TopicAnalytics receives each window's running results.
const TopicAnalytics = "analytics"

// fact is an orders event as analytics reads it: order.placed (Items)
// or order.paid (ChargeID, Amount); other events have neither.
type fact struct {
	OrderID  string      `json:"order_id"`
	Items    []shop.Item `json:"items,omitempty"`
	Amount   int64       `json:"amount,omitempty"`
	ChargeID string      `json:"charge_id,omitempty"`
}

// Revenue is one window's paid orders.
type Revenue struct {
	Orders int64 `json:"orders"`
	Cents  int64 `json:"cents"`
}

// Result is one window's running result, as published to TopicAnalytics.
type Result struct {
	Key   string    `json:"key"` // "revenue" or a SKU
	Start time.Time `json:"start"`
	Rev   Revenue   `json:"revenue"` // for "revenue"
	Qty   int64     `json:"qty"`     // for a SKU
}

// Service is the analytics service.
type Service struct {
	app *stream.App
	mu  struct {
		sync.Mutex
		revenue  map[int64]Revenue          // window start (Unix ms) → latest
		products map[int64]map[string]int64 // window start → SKU → quantity
	}
}

// New builds the topology; stateDir holds its stores.
func New(ctx context.Context, env shop.Env, rcl *sr.Client, stateDir string) (*Service, error) {
	dec, err := serde.New(rcl).Decoder(ctx, sr.Schema{Type: sr.TypeJSON, Schema: `{"type":"object"}`})
	if err != nil {
		return nil, err
	}
	s := &Service{}
	s.mu.revenue, s.mu.products = map[int64]Revenue{}, map[int64]map[string]int64{}
	top := stream.NewTopology()
	facts := stream.Source(top, shop.TopicOrders, stream.String(), stream.Registry[fact](nil, dec))
	win := stream.Tumbling(Window).Grace(Window)
	s.revenue(facts, win)
	s.products(facts, win)
	s.app, err = stream.New(top, stream.Config{AppID: "analytics", Brokers: env.Brokers, StateDir: filepath.Join(stateDir, "analytics"),
		CommitInterval: 200 * time.Millisecond, Logger: env.Logger})
	return s, err
}

// tally is a window's running count and the orders counted in it.
type tally struct {
	Orders int64           `json:"orders"`
	Cents  int64           `json:"cents,omitempty"`
	Qty    int64           `json:"qty,omitempty"`
	IDs    map[string]bool `json:"ids"`
}

// add counts order's cents and qty unless the window has it already.
func (t tally) add(order string, cents, qty int64) tally {
	if t.IDs[order] {
		return t
	}
	if t.IDs == nil {
		t.IDs = map[string]bool{}
	}
	t.IDs[order] = true
	t.Orders, t.Cents, t.Qty = t.Orders+1, t.Cents+cents, t.Qty+qty
	return t
}

// line is one order's quantity of a product.
type line struct {
	OrderID string `json:"order_id"`
	Qty     int64  `json:"qty"`
}

func (s *Service) revenue(facts stream.Stream[string, fact], win stream.Windows) {
	paid := facts.Filter(func(_ string, f fact) bool { return f.ChargeID != "" })
	all := stream.GroupBy(paid, func(string, fact) string { return "revenue" }, stream.String(), stream.JSON[fact]())
	rev := stream.WindowedAggregate(all, win, "revenue", stream.JSON[tally](),
		func() tally { return tally{} },
		func(_ string, f fact, t tally) tally { return t.add(f.OrderID, f.Amount, 0) })
	out := stream.Map(rev, func(w stream.Windowed[string], t tally) (string, Result) {
		r := Revenue{Orders: t.Orders, Cents: t.Cents}
		s.mu.Lock()
		s.mu.revenue[w.Start.UnixMilli()] = r
		s.mu.Unlock()
		return w.Key, Result{Key: w.Key, Start: w.Start, Rev: r}
	})
	out.To(TopicAnalytics, stream.String(), stream.JSON[Result]())
}

func (s *Service) products(facts stream.Stream[string, fact], win stream.Windows) {
	lines := stream.FlatMap(facts, func(_ string, f fact) []stream.KeyValue[string, line] {
		var kv []stream.KeyValue[string, line]
		for _, it := range f.Items {
			kv = append(kv, stream.KeyValue[string, line]{Key: it.SKU, Value: line{OrderID: f.OrderID, Qty: it.Qty}})
		}
		return kv
	})
	qty := stream.WindowedAggregate(stream.GroupByKey(lines, stream.String(), stream.JSON[line]()), win, "products", stream.JSON[tally](),
		func() tally { return tally{} }, func(_ string, l line, t tally) tally { return t.add(l.OrderID, 0, l.Qty) })
	out := stream.Map(qty, func(w stream.Windowed[string], t tally) (string, Result) {
		n := t.Qty
		s.mu.Lock()
		m := s.mu.products[w.Start.UnixMilli()]
		if m == nil {
			m = map[string]int64{}
			s.mu.products[w.Start.UnixMilli()] = m
		}
		m[w.Key] = n
		s.mu.Unlock()
		return w.Key, Result{Key: w.Key, Start: w.Start, Qty: n}
	})
	out.To(TopicAnalytics, stream.String(), stream.JSON[Result]())
}

// App is the service's stream app: its ServeHTTP answers interactive
// queries and GET /topology, which the console draws. Nil on a nil
// Service (a system that does not run it).
func (s *Service) App() *stream.App {
	if s == nil {
		return nil
	}
	return s.app
}

// Run runs the application until ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	if err := s.app.Run(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("analytics: %w", err)
	}
	return nil
}

// Revenue returns the latest revenue of every window seen since start, by
// window start.
func (s *Service) Revenue() map[time.Time]Revenue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[time.Time]Revenue, len(s.mu.revenue))
	for ms, r := range s.mu.revenue {
		out[time.UnixMilli(ms)] = r
	}
	return out
}

// Products returns the quantity sold per product of every window seen
// since start, by window start.
func (s *Service) Products() map[time.Time]map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[time.Time]map[string]int64, len(s.mu.products))
	for ms, m := range s.mu.products {
		out[time.UnixMilli(ms)] = maps.Clone(m)
	}
	return out
}

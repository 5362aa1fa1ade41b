// Package fraud is the fraud-detection service of the order-management
// example: a complex-event pattern (stream.Detect) over the orders
// topic, per customer: an order, then within Window another order of the
// same customer paid with a different card. Each match is an alert on
// the topic fraud-alerts, keyed by customer; the service keeps the
// customers it flagged (Flagged).
//
// As in analytics, the stream package reads values, not CloudEvents
// headers: an order.placed is told by its items.
package fraud

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

// TopicAlerts receives the alerts.
const TopicAlerts = "fraud-alerts"

// DefaultWindow is how close two orders with different cards must be.
const DefaultWindow = 10 * time.Minute

// placed is the part of order.placed the rule reads.
type placed struct {
	OrderID  string      `json:"order_id"`
	Customer string      `json:"customer"`
	Card     string      `json:"card"`
	Items    []shop.Item `json:"items,omitempty"`
}

// Alert is one match of the rule.
type Alert struct {
	Customer string    `json:"customer"`
	Orders   []string  `json:"orders"`
	Cards    []string  `json:"cards"` // last four digits
	At       time.Time `json:"at"`
}

// Service is the fraud service.
type Service struct {
	app *stream.App
	mu  struct {
		sync.Mutex
		flagged map[string]Alert // by customer, the latest alert
	}
}

// New builds the topology; window bounds the rule (DefaultWindow if 0);
// stateDir holds its store.
func New(ctx context.Context, env shop.Env, rcl *sr.Client, stateDir string, window time.Duration) (*Service, error) {
	if window <= 0 {
		window = DefaultWindow
	}
	dec, err := serde.New(rcl).Decoder(ctx, sr.Schema{Type: sr.TypeJSON, Schema: `{"type":"object"}`})
	if err != nil {
		return nil, err
	}
	s := &Service{}
	s.mu.flagged = map[string]Alert{}
	top := stream.NewTopology()
	orders := stream.Source(top, shop.TopicOrders, stream.String(), stream.Registry[placed](nil, dec)).
		Filter(func(_ string, p placed) bool { return len(p.Items) > 0 && p.Customer != "" })
	byCustomer := stream.GroupBy(orders, func(_ string, p placed) string { return p.Customer }, stream.String(), stream.JSON[placed]())
	rule := stream.Begin("first", func(placed, stream.Match[placed]) bool { return true }).
		FollowedBy("other card", func(p placed, m stream.Match[placed]) bool {
			first, _ := m.First("first")
			return p.Card != first.Card
		}).
		Within(window).AfterMatch(stream.SkipPastLastEvent)
	alerts := stream.MapValues(stream.Detect(byCustomer, rule, "multi-card"), func(customer string, m stream.Match[placed]) Alert {
		return s.alert(customer, m)
	})
	alerts.To(TopicAlerts, stream.String(), stream.JSON[Alert]())
	s.app, err = stream.New(top, stream.Config{AppID: "fraud", Brokers: env.Brokers, StateDir: filepath.Join(stateDir, "fraud"),
		CommitInterval: 200 * time.Millisecond, Logger: env.Logger})
	return s, err
}

func (s *Service) alert(customer string, m stream.Match[placed]) Alert {
	a := Alert{Customer: customer, At: m.End}
	for _, step := range []string{"first", "other card"} {
		for _, p := range m.Events[step] {
			a.Orders = append(a.Orders, p.OrderID)
			a.Cards = append(a.Cards, last4(p.Card))
		}
	}
	s.mu.Lock()
	s.mu.flagged[customer] = a
	s.mu.Unlock()
	return a
}

func last4(card string) string {
	if len(card) <= 4 {
		return card
	}
	return card[len(card)-4:]
}

// Run runs the application until ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	if err := s.app.Run(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("fraud: %w", err)
	}
	return nil
}

// Flagged returns the customers the rule fired on since start, with
// their latest alert.
func (s *Service) Flagged() map[string]Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.mu.flagged)
}

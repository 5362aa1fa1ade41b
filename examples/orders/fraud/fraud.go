// Package fraud is the fraud-detection service of the order-management
// example: two complex-event patterns (stream.Detect) over the orders
// topic, in event time.
//
//   - Multi-card, per customer: an order, then within Rules.MultiCard
//     another order of the same customer paid with a different card.
//     Each match is an alert on the topic fraud-alerts, keyed by
//     customer; the service keeps the customers it flagged (Flagged).
//   - Unpaid, per order: order.placed not followed by any other event of
//     the order (order.paid, or its cancellation or rejection) within
//     Rules.Unpaid (a negation: stream.Pattern.NotFollowedBy). Each
//     timed-out match is a shop.UnpaidOrder on shop.TopicUnpaid, which
//     the orders service takes as the command to cancel the order (the
//     normal cancellation: its stock is released, a pending charge
//     voided); the service keeps the orders it found (Unpaid).
//
// A negation fires when stream time passes its deadline, and stream time
// moves only with records. So that an unpaid order is found even when no
// other order follows it, the service writes a tick (an empty record
// stamped with the wall clock) to every partition of TopicClock each
// tick interval; the unpaid rule reads the orders topic merged with it.
//
// As in analytics, the stream package reads values, not CloudEvents
// headers: an order.placed is told by its items, the order's other
// events by their lack of items.
package fraud

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/registry/serde"
	"github.com/heraldhq/herald/stream"
)

// TopicAlerts receives the alerts.
const TopicAlerts = "fraud-alerts"

// TopicClock carries the service's ticks (see the package doc). It must
// have as many partitions as the orders topic.
const TopicClock = "fraud-clock"

// DefaultWindow is how close two orders with different cards must be.
const DefaultWindow = 10 * time.Minute

// DefaultUnpaid is how long an order may wait for its payment.
const DefaultUnpaid = 15 * time.Minute

// Rules bounds the service's rules; zero fields take the defaults.
type Rules struct {
	MultiCard time.Duration // DefaultWindow
	Unpaid    time.Duration // DefaultUnpaid
	// Tick is the interval of the clock ticks; default a tenth of Unpaid,
	// between 100 ms and 1 s. Negative: no ticks but those Service.Tick
	// writes (a clock the caller controls, as tests do).
	Tick time.Duration
}

func (r Rules) withDefaults() Rules {
	if r.MultiCard <= 0 {
		r.MultiCard = DefaultWindow
	}
	if r.Unpaid <= 0 {
		r.Unpaid = DefaultUnpaid
	}
	if r.Tick == 0 {
		r.Tick = min(max(r.Unpaid/10, 100*time.Millisecond), time.Second)
	}
	return r
}

// placed is the part of an orders event the rules read: order.placed has
// Items; the order's later events (paid, shipped, cancelled, rejected)
// have none; a clock tick has no OrderID.
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
	env   shop.Env
	rules Rules
	app   *stream.App

	mu struct {
		sync.Mutex
		flagged map[string]Alert            // by customer, the latest alert
		unpaid  map[string]shop.UnpaidOrder // by order id
	}
}

// New builds the topology of the rules; stateDir holds its stores.
func New(ctx context.Context, env shop.Env, rcl *sr.Client, stateDir string, rules Rules) (*Service, error) {
	rules = rules.withDefaults()
	dec, err := serde.New(rcl).Decoder(ctx, sr.Schema{Type: sr.TypeJSON, Schema: `{"type":"object"}`})
	if err != nil {
		return nil, err
	}
	s := &Service{env: env, rules: rules}
	s.mu.flagged = map[string]Alert{}
	s.mu.unpaid = map[string]shop.UnpaidOrder{}
	top := stream.NewTopology()
	events := stream.Source(top, shop.TopicOrders, stream.String(), stream.Registry[placed](nil, dec))
	s.multiCard(events)
	s.unpaidRule(events.Merge(stream.Source(top, TopicClock, stream.String(), stream.JSON[placed]())))
	s.app, err = stream.New(top, stream.Config{AppID: "fraud", Brokers: env.Brokers, StateDir: filepath.Join(stateDir, "fraud"),
		CommitInterval: 200 * time.Millisecond, Logger: env.Logger})
	return s, err
}

// multiCard is the first rule: two orders of a customer with different
// cards within Rules.MultiCard.
func (s *Service) multiCard(events stream.Stream[string, placed]) {
	orders := events.Filter(func(_ string, p placed) bool { return len(p.Items) > 0 && p.Customer != "" })
	byCustomer := stream.GroupBy(orders, func(_ string, p placed) string { return p.Customer }, stream.String(), stream.JSON[placed]())
	rule := stream.Begin("first", func(placed, stream.Match[placed]) bool { return true }).
		FollowedBy("other card", func(p placed, m stream.Match[placed]) bool {
			first, _ := m.First("first")
			return p.Card != first.Card
		}).
		Within(s.rules.MultiCard).AfterMatch(stream.SkipPastLastEvent)
	alerts := stream.MapValues(stream.Detect(byCustomer, rule, "multi-card"), func(customer string, m stream.Match[placed]) Alert {
		return s.alert(customer, m)
	})
	alerts.To(TopicAlerts, stream.String(), stream.JSON[Alert]())
}

// unpaidRule is the second rule: order.placed, then no other event of
// the order within Rules.Unpaid. The orders topic is keyed by order
// (its stream), so the rule needs no repartition; ticks (no OrderID)
// only move stream time.
func (s *Service) unpaidRule(events stream.Stream[string, placed]) {
	rule := stream.Begin("placed", func(p placed, _ stream.Match[placed]) bool { return len(p.Items) > 0 }).
		NotFollowedBy("paid or ended", func(p placed, _ stream.Match[placed]) bool { return p.OrderID != "" && len(p.Items) == 0 }).
		Within(s.rules.Unpaid)
	byOrder := stream.GroupByKey(events, stream.String(), stream.JSON[placed]())
	unpaid := stream.MapValues(stream.Detect(byOrder, rule, "unpaid"), func(_ string, m stream.Match[placed]) shop.UnpaidOrder {
		return s.unpaid(m)
	})
	unpaid.To(shop.TopicUnpaid, stream.String(), stream.JSON[shop.UnpaidOrder]())
}

func (s *Service) unpaid(m stream.Match[placed]) shop.UnpaidOrder {
	p, _ := m.First("placed")
	u := shop.UnpaidOrder{OrderID: p.OrderID, Customer: p.Customer, PlacedAt: m.Start.UTC(), Deadline: m.End.UTC()}
	s.mu.Lock()
	s.mu.unpaid[u.OrderID] = u
	s.mu.Unlock()
	return u
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

// App is the service's stream app: its ServeHTTP answers interactive
// queries and GET /topology, which the console draws. Nil on a nil
// Service (a system that does not run it).
func (s *Service) App() *stream.App {
	if s == nil {
		return nil
	}
	return s.app
}

// Run runs the application and the clock until ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	cl, parts, err := s.clockClient(ctx)
	if err != nil {
		return fmt.Errorf("fraud: %w", err)
	}
	defer cl.Close()
	err = shop.RunAll(ctx, s.app.Run, func(ctx context.Context) error { return s.ticks(ctx, cl, parts) })
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("fraud: %w", err)
	}
	return nil
}

// clockClient returns a client that writes to the partitions of
// TopicClock it lists.
func (s *Service) clockClient(ctx context.Context) (*kgo.Client, []int32, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.env.Brokers...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0)}, s.env.ClientOpts...)...)
	if err != nil {
		return nil, nil, err
	}
	topics, err := kadm.NewClient(cl).ListTopics(ctx, TopicClock)
	if err == nil {
		err = topics.Error()
	}
	if err != nil {
		cl.Close()
		return nil, nil, fmt.Errorf("clock topic: %w", err)
	}
	return cl, topics[TopicClock].Partitions.Numbers(), nil
}

// ticks writes a tick stamped with the wall clock to every partition of
// TopicClock every Rules.Tick (if positive), until ctx is cancelled. A
// tick that fails is dropped: the next one moves the clock as far.
func (s *Service) ticks(ctx context.Context, cl *kgo.Client, parts []int32) error {
	if s.rules.Tick < 0 {
		return nil
	}
	t := time.NewTicker(s.rules.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := tick(ctx, cl, parts, time.Now()); err != nil && ctx.Err() == nil {
			s.env.Logger.Warn("fraud clock", "err", err)
		}
	}
}

func tick(ctx context.Context, cl *kgo.Client, parts []int32, at time.Time) error {
	recs := make([]*kgo.Record, len(parts))
	for i, p := range parts {
		recs[i] = &kgo.Record{Topic: TopicClock, Partition: p, Value: []byte("{}"), Timestamp: at}
	}
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

// Tick moves the unpaid rule's clock to at: it writes a tick stamped at
// to every partition of TopicClock, so every order placed more than
// Rules.Unpaid before at and still unpaid is found. With Rules.Tick
// negative it is the only clock besides the orders' own events.
func (s *Service) Tick(ctx context.Context, at time.Time) error {
	cl, parts, err := s.clockClient(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	return tick(ctx, cl, parts, at)
}

// Unpaid returns the orders the unpaid rule found since start, by id.
func (s *Service) Unpaid() map[string]shop.UnpaidOrder {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.mu.unpaid)
}

// Flagged returns the customers the rule fired on since start, with
// their latest alert.
func (s *Service) Flagged() map[string]Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.mu.flagged)
}

package saga_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/dedup"
	"github.com/heraldhq/herald/saga"
)

// The order system of the seeds: inventory, payments and shipping are
// services that own their data and answer commands; the order saga runs
// them in order and undoes them when a step fails.

// Order is the saga's input and every command's payload.
type Order struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"` // payments decline amounts over 100
}

// topics names the command topics and the topic the services reply on.
type topics struct{ Inventory, Payments, Shipping, Replies string }

// shop is the services' state: what each did for each order.
type shop struct {
	mu       sync.Mutex
	executed map[string]int            // command event id -> executions
	done     map[string]map[string]int // effect ("charged", ...) -> order -> times
}

func newShop() *shop {
	return &shop{executed: map[string]int{}, done: map[string]map[string]int{}}
}

// effect records that what happened to order, unless it happened before
// (services are idempotent per order, as a payment provider is with an
// idempotency key); it reports whether this is the first time.
func (s *shop) effect(what, order, commandID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.executed[commandID]++
	if s.done[what] == nil {
		s.done[what] = map[string]int{}
	}
	s.done[what][order]++
	return s.done[what][order] == 1
}

// count returns how many times what happened to order.
func (s *shop) count(what, order string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done[what][order]
}

// orders lists the orders what happened to, sorted.
func (s *shop) orders(what string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for o := range s.done[what] {
		out = append(out, o)
	}
	sort.Strings(out)
	return out
}

// twice returns the commands executed more than once.
func (s *shop) twice() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, n := range s.executed {
		if n > 1 {
			out = append(out, fmt.Sprintf("%s x%d", id, n))
		}
	}
	return out
}

// services returns the router of the three services: an idempotent
// consumer (dedup by command id) that replies on tp.Replies, linked to the
// command (same correlation id, causation id = the command's id).
func (s *shop) services(seeds []string, group string, tp topics, log *slog.Logger) (*pubsub.Router, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return nil, err
	}
	pub := pubsub.NewPublisher(cl, pubsub.WithSource("/shop"))
	r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: seeds, Group: group, Logger: log,
		ClientOpts: []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond)}})
	if err != nil {
		return nil, err
	}
	r.Use(dedup.Middleware(dedup.NewMemory(time.Hour)))
	handle := func(ctx context.Context, m *pubsub.Message, o Order) error {
		reply, what := s.decide(m.Event.Type, o)
		s.effect(what, o.ID, m.Event.ID)
		_, err := pub.PublishValue(ctx, tp.Replies, reply, o.ID, o)
		return err
	}
	for _, t := range []string{tp.Inventory, tp.Payments, tp.Shipping} {
		if err := r.Handle(t, pubsub.Typed(event.JSON, handle)); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// decide is what a service does with a command: the reply type and the
// effect.
func (s *shop) decide(command string, o Order) (reply, effect string) {
	switch command {
	case "stock.reserve":
		return "stock.reserved", "reserved"
	case "stock.release":
		return "stock.released", "released"
	case "payment.charge":
		if o.Amount > 100 {
			return "payment.declined", "declined"
		}
		return "payment.charged", "charged"
	case "payment.refund":
		return "payment.refunded", "refunded"
	case "shipping.ship":
		return "shipping.shipped", "shipped"
	}
	return "unknown." + command, "unknown"
}

// orderSaga is the order saga: place the order (a function), reserve
// stock, charge the payment, ship. A declined payment releases the stock
// and cancels the order.
func orderSaga(s *shop, tp topics, stepTimeout time.Duration) saga.Definition {
	local := func(what string) func(context.Context, saga.Data) (json.RawMessage, error) {
		return func(_ context.Context, d saga.Data) (json.RawMessage, error) {
			var o Order
			if err := json.Unmarshal(d["input"], &o); err != nil {
				return nil, err
			}
			s.effect(what, o.ID, what+"/"+o.ID)
			return json.RawMessage(`"` + what + `"`), nil
		}
	}
	command := func(topic, name, ok, failed string) saga.Action {
		return saga.Action{Topic: topic, Command: name, Success: ok, Failure: failed}
	}
	return saga.Definition{Name: "order", Timeout: 10 * stepTimeout, Steps: []saga.Step{
		{Name: "order", Action: saga.Action{Func: local("placed")}, Compensation: saga.Action{Func: local("cancelled")}},
		{Name: "stock", Timeout: stepTimeout,
			Action:       command(tp.Inventory, "stock.reserve", "stock.reserved", "stock.unavailable"),
			Compensation: command(tp.Inventory, "stock.release", "stock.released", "")},
		{Name: "payment", Timeout: stepTimeout,
			Action:       command(tp.Payments, "payment.charge", "payment.charged", "payment.declined"),
			Compensation: command(tp.Payments, "payment.refund", "payment.refunded", "")},
		{Name: "shipping", Timeout: stepTimeout,
			Action: command(tp.Shipping, "shipping.ship", "shipping.shipped", "")},
	}}
}

// atRest reports an error until every instance is done, compensated or
// stuck.
func atRest(ctx context.Context, st *saga.Store, ids ...string) error {
	var busy []string
	for _, id := range ids {
		in, err := st.Get(ctx, id)
		if err != nil {
			return err
		}
		if in.Status == saga.Running || in.Status == saga.Compensating {
			busy = append(busy, fmt.Sprintf("%s %s step %d", id, in.Status, in.Step))
		}
	}
	if len(busy) > 0 {
		return fmt.Errorf("still busy: %s", strings.Join(busy, ", "))
	}
	return nil
}

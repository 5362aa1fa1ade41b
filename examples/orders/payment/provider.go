package payment

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/event"
)

// DeclinedCard is a card number the simulated provider always declines.
const DeclinedCard = "4000000000000002"

// PendingCard is a card whose charges the provider holds pending a
// strong customer authentication (3-D Secure) that the customer never
// completes: the charge neither succeeds nor fails, so the order is never
// paid, and the fraud service's unpaid rule cancels it, which voids the
// pending charge.
const PendingCard = "4000000000003220"

// ErrUnavailable is the provider failing a request (a timeout, a 503):
// the charge did not happen and may be asked again.
var ErrUnavailable = errors.New("payment provider unavailable")

// Provider is a simulated external payment provider. Like a real one it
// takes an idempotency key with each charge: a second charge with the same
// key returns the first one and charges nothing. It answers after Latency
// and fails a request (ErrUnavailable, before charging) with probability
// FailureRate, drawn from a generator seeded with Seed. Safe for
// concurrent use.
type Provider struct {
	latency     time.Duration
	failureRate float64
	mu          struct {
		sync.Mutex
		rng     *rand.Rand
		charges map[string]Charge // by idempotency key
		calls   int               // every Charge call, failed ones too
	}
}

// Charge is one charge the provider made.
type Charge struct {
	ID       string
	Amount   int64
	Declined bool
	Refunded bool
	Pending  bool // awaiting an authentication that never comes: nothing charged
	Voided   bool // a pending charge cancelled
}

// NewProvider returns a provider with the given latency and failure rate.
func NewProvider(latency time.Duration, failureRate float64, seed uint64) *Provider {
	p := &Provider{latency: latency, failureRate: failureRate}
	p.mu.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p.mu.charges = map[string]Charge{}
	return p
}

// wait is the provider's response time.
func (p *Provider) wait(ctx context.Context) error {
	if p.latency <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(p.latency)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Charge charges amount to card, once per key.
func (p *Provider) Charge(ctx context.Context, key, card string, amount int64) (Charge, error) {
	if err := p.wait(ctx); err != nil {
		return Charge{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.calls++
	if p.failureRate > 0 && p.mu.rng.Float64() < p.failureRate {
		return Charge{}, ErrUnavailable
	}
	if c, ok := p.mu.charges[key]; ok {
		return c, nil
	}
	card = strings.ReplaceAll(card, " ", "")
	c := Charge{ID: "ch_" + event.NewID(), Amount: amount, Declined: card == DeclinedCard, Pending: card == PendingCard}
	p.mu.charges[key] = c
	return c, nil
}

// Refund refunds the charge made with key, or voids it if it is pending;
// refunding twice, or a charge that was never made, does nothing.
func (p *Provider) Refund(ctx context.Context, key string) error {
	if err := p.wait(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch c, ok := p.mu.charges[key]; {
	case ok && c.Pending:
		c.Voided = true
		p.mu.charges[key] = c
	case ok && !c.Declined:
		c.Refunded = true
		p.mu.charges[key] = c
	}
	return nil
}

// Ledger returns every charge the provider made, by idempotency key, and
// how many charge requests it got.
func (p *Provider) Ledger() (map[string]Charge, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]Charge, len(p.mu.charges))
	for k, c := range p.mu.charges {
		out[k] = c
	}
	return out, p.mu.calls
}

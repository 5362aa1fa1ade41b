package system

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/heraldhq/herald/examples/orders/orders"
	"github.com/heraldhq/herald/examples/orders/payment"
)

// Kind is what the generator planted in an order, and so how the order
// must end.
type Kind string

// The kinds of orders the generator places.
const (
	Plain    Kind = "plain"    // ends shipped
	Declined Kind = "declined" // its card is declined: cancelled, stock released
	SoldOut  Kind = "sold-out" // asks for a product with no stock: rejected
	Scarce   Kind = "scarce"   // asks for the scarce teapot: shipped or rejected
	Fraud    Kind = "fraud"    // one of two orders of a customer, with two cards: shipped, and fraud flags the customer
	Unpaid   Kind = "unpaid"   // its charge stays pending: cancelled as unpaid after the timeout, stock released
)

// Mix is the share of each kind of failure among the draws; the rest
// are Plain. A Fraud draw places two orders.
type Mix struct {
	Declined, SoldOut, Scarce, Fraud, Unpaid float64
}

// DefaultMix is the demo's failure mix.
var DefaultMix = Mix{Declined: 0.08, SoldOut: 0.04, Scarce: 0.06, Fraud: 0.01, Unpaid: 0.02}

// Cards the generator pays with. Every customer but the planted
// fraudsters uses one card only.
const (
	CardVisa       = "4242424242424242"
	CardMastercard = "5555555555554444"
)

// Placed is an order the generator placed.
type Placed struct {
	OrderID, Correlation, Customer string
	Kind                           Kind
	Total                          int64
	Channel                        string // the request's; only order.placed v2 records it
}

// channels the generator's orders come through, in turn.
var channels = []string{"web", "app", "pos"}

// Generator places orders through the orders API at Rate orders per
// second, the kinds drawn from Mix with a generator seeded with Seed (a
// run with the same seed places the same orders).
type Generator struct {
	URL  string
	Rate float64
	Mix  Mix
	Seed uint64
	// Concurrency bounds the requests in flight; default 64.
	Concurrency int
	Client      *http.Client
}

// order is one order to place.
type order struct {
	kind Kind
	body orders.PlaceRequest
}

// draw makes the next orders: one, or two for a planted fraud. Plain,
// sold-out and scarce orders come from 200 customers paying with one
// card; each declined or unpaid order and each fraud pair has a customer
// of its own (d-i, u-i, f-i), so that the fraud rule fires on the
// planted pairs only.
func (g *Generator) draw(rng *rand.Rand, i int) []order {
	o := order{kind: Plain}
	o.body.Customer = fmt.Sprintf("c-%d", rng.IntN(200))
	o.body.Card = CardVisa
	o.body.Channel = channels[i%len(channels)]
	add := func(o *order, sku string, qty int64) {
		o.body.Items = append(o.body.Items, struct {
			SKU string `json:"sku"`
			Qty int64  `json:"qty"`
		}{sku, qty})
	}
	add(&o, []string{"tea", "coffee", "mug"}[rng.IntN(3)], 1+rng.Int64N(3))
	m := g.Mix
	switch x := rng.Float64(); {
	case x < m.Declined:
		o.kind, o.body.Card, o.body.Customer = Declined, payment.DeclinedCard, fmt.Sprintf("d-%d", i)
	case x < m.Declined+m.SoldOut:
		o.kind = SoldOut
		add(&o, "sold-out", 1)
	case x < m.Declined+m.SoldOut+m.Scarce:
		o.kind = Scarce
		add(&o, "teapot", 1+rng.Int64N(2))
	case x < m.Declined+m.SoldOut+m.Scarce+m.Fraud:
		o.kind, o.body.Customer, o.body.Card = Fraud, fmt.Sprintf("f-%d", i), CardMastercard
		second := o
		second.body.Card = CardVisa
		return []order{o, second}
	case x < m.Declined+m.SoldOut+m.Scarce+m.Fraud+m.Unpaid:
		o.kind, o.body.Card, o.body.Customer = Unpaid, payment.PendingCard, fmt.Sprintf("u-%d", i)
	}
	return []order{o}
}

// Run places n orders (until ctx is cancelled if n is 0), calling placed
// for each (from several goroutines at once). It returns the first
// request that failed.
func (g *Generator) Run(ctx context.Context, n int, placed func(Placed)) error {
	cl := g.Client
	if cl == nil {
		cl = http.DefaultClient
	}
	conc := g.Concurrency
	if conc <= 0 {
		conc = 64
	}
	rng := rand.New(rand.NewPCG(g.Seed, 17))
	tick := time.NewTicker(time.Duration(float64(time.Second) / g.Rate))
	defer tick.Stop()
	sem := make(chan struct{}, conc)
	var (
		wg   sync.WaitGroup
		once sync.Once
		ferr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var queue []order
	for i := 0; n == 0 || i < n; i++ {
		if len(queue) == 0 {
			queue = g.draw(rng, i)
		}
		o := queue[0]
		queue = queue[1:]
		select {
		case <-ctx.Done():
			wg.Wait()
			return ferr
		case <-tick.C:
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p, err := place(ctx, cl, g.URL, o)
			if err != nil {
				once.Do(func() { ferr = err; cancel() })
				return
			}
			if placed != nil {
				placed(p)
			}
		})
	}
	wg.Wait()
	return ferr
}

func place(ctx context.Context, cl *http.Client, url string, o order) (Placed, error) {
	body, _ := json.Marshal(o.body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/orders", bytes.NewReader(body))
	if err != nil {
		return Placed{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return Placed{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return Placed{}, fmt.Errorf("POST /orders: %s: %s", resp.Status, b)
	}
	var ans struct {
		OrderID       string `json:"order_id"`
		CorrelationID string `json:"correlation_id"`
		Total         int64  `json:"total"`
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		return Placed{}, fmt.Errorf("POST /orders: %w", err)
	}
	return Placed{OrderID: ans.OrderID, Correlation: ans.CorrelationID, Customer: o.body.Customer, Kind: o.kind, Total: ans.Total, Channel: o.body.Channel}, nil
}

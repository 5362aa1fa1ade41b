package system

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/heraldhq/herald/examples/orders/shop"
)

// Figures are throughput and latency, placed → shipped, measured from
// the times of the orders' own events in the event store.
type Figures struct {
	Orders, Shipped int
	Elapsed         time.Duration // first order.placed to last order.shipped
	PerSecond       float64       // shipped orders per second over Elapsed
	P50, P99, Max   time.Duration // order.placed to order.shipped
}

func (f Figures) String() string {
	return fmt.Sprintf("%d orders, %d shipped in %v: %.1f orders/s end to end; placed→shipped p50 %v, p99 %v, max %v",
		f.Orders, f.Shipped, f.Elapsed.Round(time.Millisecond), f.PerSecond, f.P50, f.P99, f.Max)
}

// Measure reads every order's events from the orders event store.
func (s *System) Measure(ctx context.Context) (Figures, error) {
	placed, shipped := map[string]time.Time{}, map[string]time.Time{}
	store := s.Orders.Store()
	for after := int64(0); ; {
		recs, err := store.ReadAll(ctx, after, 1000)
		if err != nil {
			return Figures{}, err
		}
		for _, r := range recs {
			switch r.Type {
			case shop.OrderPlacedType:
				placed[r.Stream] = r.Time
			case shop.OrderShippedType:
				shipped[r.Stream] = r.Time
			}
			after = r.Position
		}
		if len(recs) < 1000 {
			break
		}
	}
	return figures(placed, shipped), nil
}

func figures(placed, shipped map[string]time.Time) Figures {
	f := Figures{Orders: len(placed), Shipped: len(shipped)}
	var first, last time.Time
	lat := make([]time.Duration, 0, len(shipped))
	for id, p := range placed {
		if first.IsZero() || p.Before(first) {
			first = p
		}
		if sh, ok := shipped[id]; ok {
			lat = append(lat, sh.Sub(p))
			if sh.After(last) {
				last = sh
			}
		}
	}
	if len(lat) == 0 {
		return f
	}
	slices.Sort(lat)
	f.Elapsed = last.Sub(first)
	f.PerSecond = float64(len(lat)) / f.Elapsed.Seconds()
	f.P50, f.P99, f.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	return f
}

// WaitEnded waits until the read model holds n orders, all ended, and
// has caught up with the event store.
func (s *System) WaitEnded(ctx context.Context, n int) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		views, err := s.Orders.Views(ctx)
		if err != nil {
			return err
		}
		ended := 0
		for _, v := range views {
			if shop.Final(v.Status) {
				ended++
			}
		}
		lag, err := s.Orders.Lag(ctx)
		if err != nil {
			return err
		}
		if ended >= n && lag == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d orders ended: %w", ended, n, ctx.Err())
		case err := <-s.errs:
			return err
		case <-tick.C:
		}
	}
}

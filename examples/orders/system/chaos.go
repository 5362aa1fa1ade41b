package system

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/examples/orders/inventory"
	"github.com/heraldhq/herald/examples/orders/notification"
	"github.com/heraldhq/herald/examples/orders/payment"
	"github.com/heraldhq/herald/examples/orders/shipping"
	"github.com/heraldhq/herald/examples/orders/shop"
)

// Chaos is the chaos mode: while traffic runs, it kills a service and
// starts it again after Down, restarts the embedded broker (closed and
// opened again on the same data dir and port, so that every client
// reconnects), and re-publishes a share of the events as duplicates, as a
// producer's retry would. Each action is told to Log as it happens.
//
// The order system must absorb all of it: orders are accepted while the
// service is down and handled once it is back; nothing acknowledged is
// lost across the broker's restart; the duplicates change nothing.
//
//	rep, err := system.Chaos{Service: "payment", Down: 30 * time.Second,
//		RestartBroker: true, Duplicates: 0.05, Pause: 10 * time.Second,
//		Log: func(l string) { fmt.Println(l) }}.Run(ctx, sys)
type Chaos struct {
	// Service is the service killed in each round ("payment",
	// "inventory", "shipping" or "notification"); empty kills none.
	Service string
	// Down is how long the killed service stays down.
	Down time.Duration
	// RestartBroker restarts the embedded broker in each round (nothing
	// happens on an existing cluster).
	RestartBroker bool
	// Duplicates is the share of the events on the example's topics that
	// are published a second time, from the moment Run starts to its end.
	Duplicates float64
	// Pause is the time before each action; default 10s.
	Pause time.Duration
	// Rounds of actions (a kill, then a broker restart); 0 runs rounds
	// until ctx is cancelled.
	Rounds int
	// Seed seeds the choice of duplicates.
	Seed uint64
	// Log gets a line for each action, with its time; default discards.
	Log func(line string)
}

// DefaultChaos is the chaos of `go run ./examples/orders --chaos`.
var DefaultChaos = Chaos{Service: "payment", Down: 30 * time.Second, RestartBroker: true, Duplicates: 0.05, Pause: 15 * time.Second}

// ChaosReport tells what a Chaos run did.
type ChaosReport struct {
	// Outages are the times the service was down: from its kill to its
	// start again.
	Outages []Outage
	// BrokerRestarts is how many times the broker restarted.
	BrokerRestarts int
	// Duplicates is how many events were published a second time.
	Duplicates int64
}

// Outage is one kill of a service.
type Outage struct {
	Service         string
	Killed, Back    time.Time
	PlacedMeanwhile int // orders the orders API accepted while it was down
}

// Run runs the chaos until its rounds are done or ctx is cancelled. A
// service it killed is always started again before Run returns, even
// when ctx is cancelled while it is down.
func (c Chaos) Run(ctx context.Context, s *System) (rep ChaosReport, err error) {
	if c.Pause <= 0 {
		c.Pause = 10 * time.Second
	}
	if c.Log == nil {
		c.Log = func(string) {}
	}
	if c.Service != "" && !slices.Contains(restartable, c.Service) {
		return ChaosReport{}, fmt.Errorf("chaos: cannot kill %q (want one of %v)", c.Service, restartable)
	}
	if c.Duplicates > 0 {
		dup, derr := startDuplicator(s, c)
		if derr != nil {
			return rep, derr
		}
		defer func() {
			rep.Duplicates = dup.stop()
			c.logf("published %d events a second time (%.0f%% of what went by)", rep.Duplicates, 100*c.Duplicates)
		}()
		c.logf("re-publishing %.0f%% of the events as duplicates", 100*c.Duplicates)
	}
	for round := 0; c.Rounds == 0 || round < c.Rounds; round++ {
		if c.Service != "" {
			if !sleep(ctx, c.Pause) {
				return rep, nil
			}
			o, err := c.outage(ctx, s)
			if err != nil {
				return rep, err
			}
			rep.Outages = append(rep.Outages, o)
		}
		if c.RestartBroker && s.Broker != nil {
			if !sleep(ctx, c.Pause) {
				return rep, nil
			}
			if err := c.restartBroker(s); err != nil {
				return rep, err
			}
			rep.BrokerRestarts++
		}
		if c.Service == "" && (!c.RestartBroker || s.Broker == nil) && !sleep(ctx, c.Pause) {
			return rep, nil // duplicates only
		}
	}
	return rep, nil
}

func (c Chaos) logf(format string, args ...any) {
	c.Log(time.Now().Format("15:04:05.000") + " chaos: " + fmt.Sprintf(format, args...))
}

// outage kills c.Service, waits c.Down (less if ctx is cancelled) and
// starts it again.
func (c Chaos) outage(ctx context.Context, s *System) (Outage, error) {
	o := Outage{Service: c.Service}
	before, err := s.placedCount(ctx)
	if err != nil {
		return o, err
	}
	c.logf("killing %s: down for %v", c.Service, c.Down)
	o.Killed = time.Now()
	if err := s.StopService(c.Service); err != nil {
		return o, err
	}
	sleep(ctx, c.Down)
	// Started again whatever ctx says: a cancelled chaos run leaves the
	// system whole.
	if err := s.RestartService(context.WithoutCancel(ctx), c.Service); err != nil {
		return o, err
	}
	o.Back = time.Now()
	after, err := s.placedCount(context.WithoutCancel(ctx))
	if err != nil {
		return o, err
	}
	o.PlacedMeanwhile = after - before
	c.logf("%s is back after %v; %d orders were placed meanwhile", c.Service, o.Back.Sub(o.Killed).Round(time.Millisecond), o.PlacedMeanwhile)
	return o, nil
}

func (c Chaos) restartBroker(s *System) error {
	c.logf("restarting the broker (close, then open again on %s, same port %s)", s.Broker.DataDir(), s.Broker.Addr())
	start := time.Now()
	if err := s.Broker.Restart(); err != nil {
		return fmt.Errorf("chaos: restart broker: %w", err)
	}
	c.logf("broker is back after %v; the clients reconnect", time.Since(start).Round(time.Millisecond))
	return nil
}

// placedCount is how many orders the read model holds (0 when orders
// does not run here).
func (s *System) placedCount(ctx context.Context) (int, error) {
	if s.Orders == nil {
		return 0, nil
	}
	views, err := s.Orders.Views(ctx)
	return len(views), err
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// services is what StopService and RestartService need: the services'
// environment and databases, and each running service's stop.
type services struct {
	env    shop.Env
	runCtx context.Context
	dbs    map[string]*shop.DB
	mu     sync.Mutex
	// running holds the services running now, by name.
	running map[string]*running
}

// running is one service's run.
type running struct {
	cancel  context.CancelFunc
	done    chan struct{}
	stopped atomic.Bool // by StopService: its error is no failure
}

// restartable are the services StopService and RestartService handle;
// the others are wired to the HTTP server or read by the tests.
var restartable = []string{"payment", "inventory", "shipping", "notification"}

// run runs a service in its own goroutine until Close or StopService.
func (s *System) run(name string, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(s.svcs.runCtx)
	r := &running{cancel: cancel, done: make(chan struct{})}
	s.svcs.mu.Lock()
	s.svcs.running[name] = r
	s.svcs.mu.Unlock()
	s.wg.Go(func() {
		defer close(r.done)
		defer cancel()
		if err := f(ctx); err != nil && !r.stopped.Load() {
			select {
			case s.errs <- fmt.Errorf("%s: %w", name, err):
			default: // the first errors are there already
			}
		}
	})
}

// StopService stops service name as a crash of its process would (its
// database and the payment provider stay), and waits until it stopped.
func (s *System) StopService(name string) error {
	s.svcs.mu.Lock()
	r := s.svcs.running[name]
	delete(s.svcs.running, name)
	s.svcs.mu.Unlock()
	if r == nil {
		return fmt.Errorf("stop %s: not running", name)
	}
	r.stopped.Store(true)
	r.cancel()
	<-r.done
	return nil
}

// RestartService starts service name again, stopped by StopService, on
// its database; it resumes from its consumer groups' committed offsets.
// It sets the System's field of the service (Payment, ...) to the new
// one.
func (s *System) RestartService(ctx context.Context, name string) error {
	s.svcs.mu.Lock()
	_, on := s.svcs.running[name]
	s.svcs.mu.Unlock()
	if on {
		return fmt.Errorf("restart %s: it is running", name)
	}
	env, db := s.svcs.env, s.svcs.dbs[name]
	var (
		run func(context.Context) error
		err error
	)
	switch name {
	case "payment":
		var svc *payment.Service
		if svc, err = payment.New(ctx, env, db, s.Provider); err == nil {
			s.Payment, run = svc, svc.Run
		}
	case "inventory":
		var svc *inventory.Service
		if svc, err = inventory.New(ctx, env, db); err == nil {
			s.Inventory, run = svc, svc.Run
		}
	case "shipping":
		var svc *shipping.Service
		if svc, err = shipping.New(ctx, env, db); err == nil {
			s.Shipping, run = svc, svc.Run
		}
	case "notification":
		run = notification.New(env).Run
	default:
		return fmt.Errorf("restart %s: not one of %v", name, restartable)
	}
	if err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	s.run(name, run)
	return nil
}

// duplicator re-publishes a share of the events on the example's topics,
// each to its own partition with its key, headers and time: to a consumer
// it is the same event delivered twice, as after a producer's retry.
type duplicator struct {
	cancel context.CancelFunc
	done   chan struct{}
	n      atomic.Int64
}

func startDuplicator(s *System, c Chaos) (*duplicator, error) {
	opts := append([]kgo.Opt{kgo.SeedBrokers(s.Brokers...), kgo.ConsumeTopics(shop.Topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.FetchMaxWait(50 * time.Millisecond), kgo.ProducerLinger(time.Millisecond)}, s.svcs.env.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("chaos: duplicator: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &duplicator{cancel: cancel, done: make(chan struct{})}
	rng := rand.New(rand.NewPCG(c.Seed, 0xd0b1e))
	go func() {
		defer close(d.done)
		defer cl.Close()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				if rng.Float64() >= c.Duplicates {
					return
				}
				dup := &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value,
					Headers: slices.Clone(r.Headers), Timestamp: r.Timestamp}
				cl.Produce(context.Background(), dup, func(_ *kgo.Record, err error) {
					if err == nil {
						d.n.Add(1)
					}
				})
			})
		}
		// Waits for the duplicates in flight.
		_ = cl.Flush(context.Background())
	}()
	return d, nil
}

// stop stops the duplicator and returns how many duplicates it published.
func (d *duplicator) stop() int64 {
	d.cancel()
	<-d.done
	return d.n.Load()
}

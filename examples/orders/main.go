// Command orders runs the order-management example: an embedded Herald
// broker, schema registry and web console, the services of an online
// shop (orders, inventory, payment, shipping, notification) in one
// process, and a traffic generator placing orders with failures mixed in.
//
//	go run ./examples/orders                       # demo: 5 orders/s, Ctrl-C stops
//	go run ./examples/orders --saga orchestration  # the saga run by orders instead
//	go run ./examples/orders --bench --orders 2000 --rate 100   # throughput and latency, then exit
//	go run ./examples/orders --chaos               # payment down 30s, broker restarts, duplicates, in turn
//	go run ./examples/orders --brokers host:9092 --registry http://host:8081 --service payment
//
// See README.md beside this file for the walkthrough.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/examples/orders/system"
)

type flags struct {
	cfg      system.Config
	brokers  string
	services string
	saga     string
	rate     float64
	orders   int
	mix      system.Mix
	bench    bool
	verbose  bool
	chaos    bool
	chaosCfg system.Chaos
}

func parse(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("orders", flag.ContinueOnError)
	fs.StringVar(&f.brokers, "brokers", "", "run against this Kafka cluster (comma-separated seeds) instead of an embedded broker")
	fs.StringVar(&f.cfg.RegistryURL, "registry", "", "the schema registry of --brokers' cluster")
	fs.StringVar(&f.cfg.DataDir, "data-dir", "", "broker data and SQLite files (default: a temporary directory, removed at exit)")
	fs.StringVar(&f.cfg.Postgres, "postgres", "", "keep the services' data in this PostgreSQL database (postgres:// URL) instead of SQLite")
	fs.StringVar(&f.cfg.Namespace, "pg-namespace", "shop", "with --postgres: each service's schema is <pg-namespace>_<service>")
	fs.StringVar(&f.saga, "saga", "choreography", "saga style: choreography or orchestration")
	fs.StringVar(&f.services, "service", "", "run only these services (comma-separated: "+strings.Join(system.Services, ",")+")")
	fs.Float64Var(&f.rate, "rate", 5, "orders placed per second by the traffic generator (0: none)")
	fs.IntVar(&f.orders, "orders", 0, "stop the generator after this many orders (0: until Ctrl-C)")
	fs.Float64Var(&f.mix.Declined, "declined", system.DefaultMix.Declined, "share of orders paid with a card the provider declines")
	fs.Float64Var(&f.mix.SoldOut, "sold-out", system.DefaultMix.SoldOut, "share of orders asking for a product out of stock")
	fs.Float64Var(&f.mix.Scarce, "scarce", system.DefaultMix.Scarce, "share of orders asking for the scarce teapot")
	fs.Float64Var(&f.mix.Fraud, "fraud", system.DefaultMix.Fraud, "share of draws that are a customer ordering twice with two cards (the fraud rule flags them)")
	fs.DurationVar(&f.cfg.FraudWindow, "fraud-window", 10*time.Minute, "the fraud rule: two cards of one customer within this")
	fs.DurationVar(&f.cfg.UnpaidTimeout, "unpaid-timeout", 15*time.Minute, "the fraud service cancels an order not paid within this")
	fs.Float64Var(&f.mix.Unpaid, "unpaid", system.DefaultMix.Unpaid, "share of orders paid with a card whose charge stays pending (cancelled after --unpaid-timeout)")
	fs.IntVar(&f.cfg.OrderPlacedV2After, "v2-after", 100, "orders write order.placed v2 (with a channel field) after this many orders (0: v1 only)")
	fs.DurationVar(&f.cfg.PaymentLatency, "payment-latency", 20*time.Millisecond, "the simulated payment provider's response time")
	fs.Float64Var(&f.cfg.PaymentFailureRate, "payment-failures", 0.05, "share of the provider's answers that fail (retried)")
	fs.Uint64Var(&f.cfg.Seed, "seed", 1, "seed of the generator and the provider's failures")
	fs.StringVar(&f.cfg.OrdersAddr, "listen", "127.0.0.1:8090", "the orders API's address")
	fs.StringVar(&f.cfg.ConsoleAddr, "console", "127.0.0.1:8080", "the web console's address (empty: none)")
	fs.BoolVar(&f.bench, "bench", false, "place --orders orders at --rate, wait for all to end, print throughput and latency, exit")
	fs.BoolVar(&f.verbose, "v", false, "log the services' warnings and errors")
	f.chaosCfg = system.DefaultChaos
	fs.BoolVar(&f.chaos, "chaos", false, "chaos mode: while traffic runs, kill and restart a service, restart the embedded broker, deliver events twice")
	fs.StringVar(&f.chaosCfg.Service, "chaos-kill", f.chaosCfg.Service, "with --chaos: the service killed each round (payment, inventory, shipping, notification; empty: none)")
	fs.DurationVar(&f.chaosCfg.Down, "chaos-down", f.chaosCfg.Down, "with --chaos: how long the killed service stays down")
	fs.DurationVar(&f.chaosCfg.Pause, "chaos-every", f.chaosCfg.Pause, "with --chaos: the pause before each action (a kill, a broker restart)")
	fs.BoolVar(&f.chaosCfg.RestartBroker, "chaos-broker", f.chaosCfg.RestartBroker, "with --chaos: restart the embedded broker each round")
	fs.Float64Var(&f.chaosCfg.Duplicates, "chaos-dups", f.chaosCfg.Duplicates, "with --chaos: share of the events published a second time")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	var err error
	if f.cfg.Saga, err = shop.ParseSagaMode(f.saga); err != nil {
		return f, err
	}
	if f.brokers != "" {
		f.cfg.Brokers = strings.Split(f.brokers, ",")
	}
	if f.services != "" {
		f.cfg.Services = strings.Split(f.services, ",")
	}
	if f.bench && f.orders == 0 {
		f.orders = 1000
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if f.bench && !set["unpaid"] {
		f.mix.Unpaid = 0 // the bench waits for every order to end: none waits for --unpaid-timeout
	}
	if f.bench && f.rate <= 0 {
		return f, errors.New("--bench needs a --rate")
	}
	if f.chaos && (f.chaosCfg.Down <= 0 || f.chaosCfg.Pause <= 0 || f.chaosCfg.Duplicates < 0 || f.chaosCfg.Duplicates >= 1) {
		return f, errors.New("--chaos needs --chaos-down and --chaos-every above 0 and --chaos-dups in [0, 1)")
	}
	f.chaosCfg.Seed = f.cfg.Seed
	return f, nil
}

func main() {
	f, err := parse(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err == nil {
		err = run(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

func run(f flags) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	level := slog.LevelError + 1
	if f.verbose {
		level = slog.LevelWarn
	}
	f.cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if f.bench {
		f.cfg.Durability, f.cfg.ConsoleAddr, f.cfg.OrdersAddr = "none", "", "127.0.0.1:0"
	}
	sys, err := system.Start(ctx, f.cfg)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("stopping...")
		if err := sys.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "orders: close:", err)
		}
	}()
	if f.bench {
		return bench(ctx, sys, f)
	}
	greet(sys, f)
	if f.chaos {
		chaosCtx, stopChaos := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); runChaos(chaosCtx, sys, f) }()
		// Before sys.Close: the chaos puts back what it stopped.
		defer func() { stopChaos(); <-done }()
	}
	if sys.OrdersURL != "" && f.rate > 0 {
		gen := system.Generator{URL: sys.OrdersURL, Rate: f.rate, Mix: f.mix, Seed: f.cfg.Seed}
		go func() {
			if err := gen.Run(ctx, f.orders, nil); err != nil && ctx.Err() == nil {
				fmt.Fprintln(os.Stderr, "orders: traffic:", err)
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-sys.Err():
		return err
	}
}

// greet prints where everything is and what to try.
func greet(sys *system.System, f flags) {
	b := sys.Brokers[0]
	fmt.Printf("Herald order-management example, saga style %s\n\n", f.cfg.Saga)
	fmt.Printf("  broker          %s\n  schema registry %s\n", strings.Join(sys.Brokers, ","), sys.RegistryURL)
	if sys.ConsoleURL != "" {
		fmt.Printf("  web console     %s\n  order statuses  %s/topics/%s/messages?live=1\n", sys.ConsoleURL, sys.ConsoleURL, shop.TopicStatus)
		fmt.Printf("  fraud alerts    %s/topics/fraud-alerts/messages?live=1\n  analytics       %s/topics/analytics/messages?live=1\n", sys.ConsoleURL, sys.ConsoleURL)
	}
	if sys.OrdersURL != "" {
		fmt.Printf("  orders API      %s/orders\n", sys.OrdersURL)
	}
	if f.rate > 0 && sys.OrdersURL != "" {
		fmt.Printf("\nPlacing %.4g orders a second (%.0f%% declined cards, %.0f%% sold out, %.0f%% scarce teapots, %.0f%% fraud pairs). Ctrl-C stops.\n",
			f.rate, 100*f.mix.Declined, 100*f.mix.SoldOut, 100*f.mix.Scarce, 100*f.mix.Fraud)
	}
	fmt.Printf("\nTry:\n")
	fmt.Printf("  curl -s -XPOST %s/orders -H 'X-Correlation-ID: my-first-order' \\\n", sys.OrdersURL)
	fmt.Printf("       -d '{\"customer\":\"c-1\",\"card\":\"4242424242424242\",\"items\":[{\"sku\":\"tea\",\"qty\":2}]}'\n")
	fmt.Printf("  curl -s %s/orders/ORDER_ID\n", sys.OrdersURL)
	fmt.Printf("  herald consume %s -b %s --from -5\n", shop.TopicOrders, b)
	if sys.ConsoleURL != "" {
		fmt.Printf("  %s/trace/my-first-order   (one order's story)\n", sys.ConsoleURL)
	}
	if f.cfg.Postgres == "" && sys.Orders != nil {
		fmt.Printf("  herald projection list --db %s --table projections --events events\n", filepath.Join(sys.DataDir(), "orders.db"))
	}
	if f.cfg.Saga == shop.Orchestration && f.cfg.Postgres == "" && sys.Orders != nil {
		fmt.Printf("  herald saga list --db %s --prefix saga\n", filepath.Join(sys.DataDir(), "orders_saga.db"))
	}
	fmt.Println()
}

// runChaos runs the chaos mode until ctx is done, printing each action.
func runChaos(ctx context.Context, sys *system.System, f flags) system.ChaosReport {
	c := f.chaosCfg
	c.Log = func(line string) { fmt.Println(line) }
	rep, err := c.Run(ctx, sys)
	if err != nil {
		fmt.Fprintln(os.Stderr, "orders: chaos:", err)
	}
	return rep
}

// bench places f.orders orders at f.rate, waits until every one ended,
// and prints the figures.
func bench(ctx context.Context, sys *system.System, f flags) error {
	gen := system.Generator{URL: sys.OrdersURL, Rate: f.rate, Mix: f.mix, Seed: f.cfg.Seed}
	start := time.Now()
	chaosCtx, stopChaos := context.WithCancel(ctx)
	defer stopChaos()
	chaosDone := make(chan system.ChaosReport, 1)
	if f.chaos {
		go func() { chaosDone <- runChaos(chaosCtx, sys, f) }()
	}
	if err := gen.Run(ctx, f.orders, nil); err != nil {
		return err
	}
	if f.chaos { // the chaos lasts as long as the traffic
		stopChaos()
		rep := <-chaosDone
		fmt.Printf("chaos while the traffic ran: %d outages of %s, %d broker restarts, %d duplicates\n",
			len(rep.Outages), f.chaosCfg.Service, rep.BrokerRestarts, rep.Duplicates)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := sys.WaitEnded(wctx, f.orders); err != nil {
		return err
	}
	fig, err := sys.Measure(ctx)
	if err != nil {
		return err
	}
	db := "SQLite"
	if f.cfg.Postgres != "" {
		db = "PostgreSQL"
	}
	fmt.Printf("offered %.4g orders/s, %s, %s, payment latency %v: %s (all ended %v after the first was placed)\n",
		f.rate, f.cfg.Saga, db, f.cfg.PaymentLatency, fig, time.Since(start).Round(time.Millisecond))
	return nil
}

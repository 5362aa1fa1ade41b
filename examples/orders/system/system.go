// Package system starts the whole order-management example in one
// process: an embedded Herald broker with its schema registry and web
// console (or an existing cluster), the topics, the schemas, the product
// catalogue, and the services, each on its own database. The main
// program and the end-to-end test both start it here.
//
//	sys, err := system.Start(ctx, system.Config{Saga: shop.Orchestration})
//	defer sys.Close()
//	fmt.Println(sys.OrdersURL, sys.ConsoleURL)
//	gen := system.Generator{URL: sys.OrdersURL, Rate: 50, Mix: system.DefaultMix}
//	err = gen.Run(ctx, 1000, nil)
package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/examples/orders/analytics"
	"github.com/heraldhq/herald/examples/orders/fraud"
	"github.com/heraldhq/herald/examples/orders/inventory"
	"github.com/heraldhq/herald/examples/orders/notification"
	"github.com/heraldhq/herald/examples/orders/orders"
	"github.com/heraldhq/herald/examples/orders/payment"
	"github.com/heraldhq/herald/examples/orders/shipping"
	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/stream"
)

// Services lists the services by name, for Config.Services.
var Services = []string{"orders", "inventory", "payment", "shipping", "notification", "analytics", "fraud"}

// Config configures a System. Zero fields take the defaults noted.
type Config struct {
	// Brokers of an existing cluster, and its RegistryURL; empty starts
	// an embedded broker and registry.
	Brokers     []string
	RegistryURL string
	// DataDir holds the embedded broker's data and the SQLite files;
	// default a temporary directory, removed by Close.
	DataDir string
	// Postgres, a PostgreSQL URL, keeps the services' data there instead
	// of SQLite, each service in the schema <Namespace>_<service>.
	Postgres  string
	Namespace string
	// Saga is the saga style; default Choreography.
	Saga shop.SagaMode
	// Services to run; default all of them.
	Services []string
	// Partitions of each topic; default 3.
	Partitions int
	// PaymentLatency and PaymentFailureRate shape the simulated payment
	// provider, seeded with Seed.
	PaymentLatency     time.Duration
	PaymentFailureRate float64
	Seed               uint64
	// FraudWindow bounds the fraud rule (two cards of one customer within
	// it); default fraud.DefaultWindow.
	FraudWindow time.Duration
	// UnpaidTimeout is how long an order may wait for its payment before
	// the fraud service has it cancelled; default fraud.DefaultUnpaid.
	UnpaidTimeout time.Duration
	// ManualFraudClock stops the fraud service's wall-clock ticks: its
	// unpaid rule's time then moves with the orders' events and
	// Fraud.Tick only (tests).
	ManualFraudClock bool
	// OrderPlacedV2After: the orders service writes order.placed v2 (a new
	// optional field, registered as the subject's version 2) after its
	// first OrderPlacedV2After orders; 0: v1 only.
	OrderPlacedV2After int
	// Durability of the embedded broker ("always", "none", ...); default
	// the broker's.
	Durability string
	// OrdersAddr is where the orders API listens; default 127.0.0.1:0.
	OrdersAddr string
	// ConsoleAddr, if set, serves the web console there.
	ConsoleAddr string
	// Logger; default discards.
	Logger *slog.Logger
}

// System is the running example.
type System struct {
	cfg         Config
	Broker      *heraldtest.Broker // nil on an existing cluster
	Brokers     []string
	RegistryURL string
	OrdersURL   string // the orders API, when orders runs
	ConsoleURL  string // the web console, when ConsoleAddr is set

	Orders    *orders.Service
	Inventory *inventory.Service
	Payment   *payment.Service
	Shipping  *shipping.Service
	Analytics *analytics.Service
	Fraud     *fraud.Service
	Provider  *payment.Provider

	rcl     *sr.Client
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	errs    chan error
	closers []io.Closer
	tempDir string
	svcs    services // each service's run, which chaos stops and starts (chaos.go)
}

// Start starts the system; Close stops it.
func Start(ctx context.Context, cfg Config) (_ *System, err error) {
	cfg = withDefaults(cfg)
	s := &System{cfg: cfg, errs: make(chan error, len(Services)+2)}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if err := s.startCluster(); err != nil {
		return nil, err
	}
	env, err := s.prepare(ctx)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	if err := s.startServices(ctx, runCtx, env); err != nil {
		return nil, err
	}
	return s, s.serveHTTP()
}

func withDefaults(cfg Config) Config {
	if cfg.Saga == "" {
		cfg.Saga = shop.Choreography
	}
	if len(cfg.Services) == 0 {
		cfg.Services = Services
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 3
	}
	if cfg.OrdersAddr == "" {
		cfg.OrdersAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// startCluster starts the embedded broker and registry, unless Brokers
// names a cluster.
func (s *System) startCluster() error {
	if s.cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "herald-orders-")
		if err != nil {
			return err
		}
		s.cfg.DataDir, s.tempDir = dir, dir
	}
	if len(s.cfg.Brokers) > 0 {
		s.Brokers, s.RegistryURL = s.cfg.Brokers, s.cfg.RegistryURL
		if s.RegistryURL == "" {
			return errors.New("an existing cluster needs a schema registry URL too")
		}
		return nil
	}
	opts := []heraldtest.Option{heraldtest.WithDataDir(s.cfg.DataDir + "/broker"), heraldtest.WithRegistry(),
		heraldtest.WithPartitions(s.cfg.Partitions), heraldtest.WithLogger(s.cfg.Logger)}
	if s.cfg.Durability != "" {
		opts = append(opts, heraldtest.WithDurability(s.cfg.Durability))
	}
	b, err := heraldtest.Start(opts...)
	if err != nil {
		return err
	}
	s.Broker, s.Brokers, s.RegistryURL = b, []string{b.Addr()}, b.RegistryURL()
	return nil
}

// prepare creates the topics, registers the schemas and publishes the
// catalogue.
func (s *System) prepare(ctx context.Context) (shop.Env, error) {
	var err error
	if s.rcl, err = sr.NewClient(sr.URLs(s.RegistryURL)); err != nil {
		return shop.Env{}, err
	}
	codec := shop.NewCodec(s.rcl, s.RegistryURL)
	env := shop.Env{Brokers: s.Brokers, Codec: codec, Saga: s.cfg.Saga, Logger: s.cfg.Logger}
	cl, err := env.Client()
	if err != nil {
		return env, err
	}
	defer cl.Close()
	if err := createTopics(ctx, kadm.NewClient(cl), int32(s.cfg.Partitions)); err != nil {
		return env, err
	}
	if err := codec.Register(ctx); err != nil {
		return env, err
	}
	return env, shop.PublishCatalog(ctx, cl, codec, Catalog)
}

func createTopics(ctx context.Context, adm *kadm.Client, partitions int32) error {
	compact := "compact"
	for _, t := range append(shop.Topics, analytics.TopicAnalytics, fraud.TopicAlerts, fraud.TopicClock) {
		var cfg map[string]*string
		if t == shop.TopicCatalog {
			cfg = map[string]*string{"cleanup.policy": &compact}
		}
		res, err := adm.CreateTopic(ctx, partitions, 1, cfg, t)
		if err == nil {
			err = res.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	return nil
}

// startServices opens the services in cfg.Services and runs each in its
// own goroutine until Close.
func (s *System) startServices(ctx, runCtx context.Context, env shop.Env) error {
	s.svcs = services{env: env, runCtx: runCtx, dbs: map[string]*shop.DB{}, running: map[string]*running{}}
	for _, name := range s.cfg.Services {
		var db *shop.DB
		if name != "notification" && name != "analytics" && name != "fraud" {
			var err error
			if db, err = s.dbs().Open(ctx, name); err != nil {
				return err
			}
			s.closers = append(s.closers, db)
			s.svcs.dbs[name] = db
		}
		run, err := s.open(ctx, name, env, db)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		s.run(name, run)
	}
	return nil
}

func (s *System) open(ctx context.Context, name string, env shop.Env, db *shop.DB) (func(context.Context) error, error) {
	var err error
	switch name {
	case "orders":
		var sagaDB *shop.DB
		if env.Saga == shop.Orchestration {
			if sagaDB, err = s.dbs().Open(ctx, "orders_saga"); err != nil {
				return nil, err
			}
			s.closers = append(s.closers, sagaDB)
		}
		s.Orders, err = orders.New(ctx, env, db, sagaDB)
		if err == nil {
			s.Orders.WriteV2After(s.cfg.OrderPlacedV2After)
		}
		return func(ctx context.Context) error { return s.Orders.Run(ctx) }, err
	case "inventory":
		s.Inventory, err = inventory.New(ctx, env, db)
		return func(ctx context.Context) error { return s.Inventory.Run(ctx) }, err
	case "payment":
		s.Provider = payment.NewProvider(s.cfg.PaymentLatency, s.cfg.PaymentFailureRate, s.cfg.Seed)
		s.Payment, err = payment.New(ctx, env, db, s.Provider)
		return func(ctx context.Context) error { return s.Payment.Run(ctx) }, err
	case "shipping":
		s.Shipping, err = shipping.New(ctx, env, db)
		return func(ctx context.Context) error { return s.Shipping.Run(ctx) }, err
	case "notification":
		return notification.New(env).Run, nil
	case "analytics":
		s.Analytics, err = analytics.New(ctx, env, s.rcl, s.cfg.DataDir)
		return func(ctx context.Context) error { return shop.RestartOnFailure(ctx, name, env.Logger, s.Analytics.Run) }, err
	case "fraud":
		s.Fraud, err = fraud.New(ctx, env, s.rcl, s.cfg.DataDir, fraud.Rules{MultiCard: s.cfg.FraudWindow, Unpaid: s.cfg.UnpaidTimeout, Tick: s.fraudTick()})
		return func(ctx context.Context) error { return shop.RestartOnFailure(ctx, name, env.Logger, s.Fraud.Run) }, err
	}
	return nil, fmt.Errorf("unknown service %q (want one of %v)", name, Services)
}

func (s *System) fraudTick() time.Duration {
	if s.cfg.ManualFraudClock {
		return -1
	}
	return 0
}

func (s *System) dbs() shop.DBConfig {
	return shop.DBConfig{Dir: s.cfg.DataDir, Postgres: s.cfg.Postgres, Namespace: s.cfg.Namespace}
}

// serveHTTP serves the orders API and the console.
func (s *System) serveHTTP() error {
	if s.Orders != nil {
		url, err := s.serve(s.cfg.OrdersAddr, s.Orders.Handler())
		if err != nil {
			return err
		}
		s.OrdersURL = url
	}
	if s.cfg.ConsoleAddr == "" {
		return nil
	}
	// The flow trace reads the last hour of every topic (the embedded
	// broker's correlation index is not reachable through heraldtest).
	ccfg := console.Config{Brokers: s.Brokers, RegistryURL: s.RegistryURL, Logger: s.cfg.Logger,
		TraceScanWindow: time.Hour}
	if s.Orders != nil { // its read model, and its sagas when orchestrated
		ccfg.Projections = s.Orders.Projections()
		if st := s.Orders.Sagas(); st != nil {
			ccfg.Sagas = st
		}
	}
	// The stream apps' topologies, drawn on the console's /streams pages.
	for name, app := range map[string]*stream.App{"fraud": s.Fraud.App(), "analytics": s.Analytics.App()} {
		if app == nil {
			continue
		}
		url, err := s.serve("127.0.0.1:0", app)
		if err != nil {
			return err
		}
		if ccfg.StreamApps == nil {
			ccfg.StreamApps = map[string]string{}
		}
		ccfg.StreamApps[name] = url
	}
	c, err := console.New(ccfg)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, c)
	s.ConsoleURL, err = s.serve(s.cfg.ConsoleAddr, c)
	return err
}

func (s *System) serve(addr string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	s.closers = slices.Insert(s.closers, 0, io.Closer(srv))
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Err delivers a service's error: a service stopped before Close.
func (s *System) Err() <-chan error { return s.errs }

// Close stops the services, waits for them, and closes the databases, the
// console and the embedded broker.
func (s *System) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c.Close())
	}
	if s.Broker != nil {
		errs = append(errs, s.Broker.Close())
	}
	if s.tempDir != "" {
		errs = append(errs, os.RemoveAll(s.tempDir))
	}
	return errors.Join(errs...)
}

// Catalog is the product catalogue the system publishes at start. Prices
// in cents; "teapot" is scarce and "sold-out" has no stock at all.
var Catalog = []shop.Product{
	{SKU: "tea", Name: "Assam tea, 250 g", Price: 450, Stock: 1_000_000},
	{SKU: "coffee", Name: "Coffee beans, 1 kg", Price: 1200, Stock: 1_000_000},
	{SKU: "mug", Name: "Mug", Price: 900, Stock: 1_000_000},
	{SKU: "teapot", Name: "Cast-iron teapot", Price: 3500, Stock: 40},
	{SKU: "sold-out", Name: "Limited-edition kettle", Price: 9900, Stock: 0},
}

// DataDir is where the broker's data and the SQLite files are.
func (s *System) DataDir() string { return s.cfg.DataDir }

package heraldtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/heraldtestutil/hooks"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/registry"
)

// Broker is a running in-process broker, and its schema registry when
// WithRegistry asked for one. Safe for concurrent use.
type Broker struct {
	tb   testing.TB // nil for Start
	cfg  server.Config
	o    options
	addr string

	mu      sync.Mutex
	tempDir string           // removed by Close; "" for WithDataDir or NewBroker
	srv     *server.Server   // nil while closed
	reg     *registry.Server // nil without WithRegistry or after Close
	url     string           // the registry's base URL
}

// Option changes how NewBroker and Start start the broker.
type Option func(*options)

type options struct {
	cfg      server.Config
	dataDir  string
	registry bool
	topics   []topic
	edits    []func(*server.Config)
}

type topic struct {
	name       string
	partitions int32
}

// WithDurability sets the durability policy: "always" (the default),
// "interval=<duration>" or "none".
func WithDurability(d string) Option { return func(o *options) { o.cfg.Durability = d } }

// WithDataDir uses dir instead of a new temporary directory; it is not
// removed afterwards.
func WithDataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

// WithPartitions sets how many partitions an auto-created topic gets (1
// by default).
func WithPartitions(n int) Option { return func(o *options) { o.cfg.DefaultPartitions = int32(n) } }

// WithAutoCreate turns creating topics on first use (a Metadata request
// for an unknown name) on or off; on by default, as in `herald serve`.
func WithAutoCreate(on bool) Option { return func(o *options) { o.cfg.AutoCreateTopics = on } }

// WithTopics creates topics with the given number of partitions once the
// broker is up, before NewBroker or Start returns.
func WithTopics(partitions int, names ...string) Option {
	return func(o *options) {
		for _, n := range names {
			o.topics = append(o.topics, topic{n, int32(partitions)})
		}
	}
}

// WithRegistry also starts a schema registry on the broker (its schemas
// in the topic _schemas), on a random free port; RegistryURL is its
// address. Like `herald serve`, the broker checks produced values against
// it on topics with herald.schema.validation=true.
func WithRegistry() Option { return func(o *options) { o.registry = true } }

// WithNodeID sets the broker's node id (default 0); Kafka test suites
// and tools often assume 1.
func WithNodeID(id int32) Option { return func(o *options) { o.cfg.NodeID = id } }

// WithInitialRebalanceDelay sets group.initial.rebalance.delay.ms: how
// long a new group's first rebalance waits for more members. The default
// here is 0 (the first join forms the group at once), for fast tests;
// herald serve's and server.DefaultConfig's is Kafka's 3s.
func WithInitialRebalanceDelay(d time.Duration) Option {
	return func(o *options) { o.cfg.Groups.Group.InitialRebalanceDelay = d }
}

// WithLogger sends the broker's and the registry's logs to l. By default
// they are discarded, or written to the test log under go test -v.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.cfg.Logger = l } }

// The hooks for Herald's own tests (internal/heraldtestutil): they use
// internal types, which a module outside Herald cannot name, so they are
// not part of this package's API.
func init() {
	hooks.WithConfig = func(f func(*server.Config)) any {
		return Option(func(o *options) { o.edits = append(o.edits, f) })
	}
	hooks.Server = func(b any) *server.Server { return b.(*Broker).server() }
}

// NewBroker starts a broker (and registry, with WithRegistry) and
// registers its Close with tb.Cleanup. It fails the test if the broker
// cannot start.
func NewBroker(tb testing.TB, opts ...Option) *Broker {
	tb.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	o := newOptions(logger, opts)
	if o.cfg.DataDir == "" {
		o.cfg.DataDir = tb.TempDir()
	}
	b := &Broker{tb: tb, cfg: o.cfg, o: o}
	if err := b.open(); err != nil {
		tb.Fatalf("heraldtest: %v", err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

// Start starts a broker outside a test (an example, a main program): the
// same as NewBroker, but the caller must Close it, which also removes its
// temporary data dir.
func Start(opts ...Option) (*Broker, error) {
	o := newOptions(slog.New(slog.NewTextHandler(io.Discard, nil)), opts)
	b := &Broker{cfg: o.cfg, o: o}
	if b.cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "heraldtest-")
		if err != nil {
			return nil, fmt.Errorf("heraldtest: %w", err)
		}
		b.cfg.DataDir, b.tempDir = dir, dir
	}
	dir := b.tempDir
	if err := b.open(); err != nil {
		if dir != "" {
			os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("heraldtest: %w", err)
	}
	return b, nil
}

func newOptions(logger *slog.Logger, opts []Option) options {
	o := options{cfg: server.DefaultConfig()}
	o.cfg.ListenAddr = "127.0.0.1:0"
	o.cfg.Logger = logger
	// No initial rebalance delay (herald serve's default is Kafka's 3s):
	// a test's group forms at its first join instead of 3s later.
	// WithInitialRebalanceDelay sets it.
	o.cfg.Groups.Group.InitialRebalanceDelay = 0
	for _, opt := range opts {
		opt(&o)
	}
	o.cfg.DataDir = o.dataDir
	for _, f := range o.edits {
		f(&o.cfg)
	}
	return o
}

// open starts the broker, then the topics and the registry; on error
// nothing is left running.
func (b *Broker) open() error {
	if err := b.start(); err != nil {
		return err
	}
	// The first start found free ports; restarts reuse them.
	b.cfg.ListenAddr = b.addr
	b.pinListeners()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := b.createTopics(ctx)
	if err == nil && b.o.registry {
		err = b.startRegistry(ctx)
	}
	if err != nil {
		return errors.Join(err, b.Close())
	}
	return nil
}

func (b *Broker) start() error {
	srv, err := server.New(b.cfg)
	if err != nil {
		return fmt.Errorf("open broker: %w", err)
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		return fmt.Errorf("start broker: %w", err)
	}
	b.mu.Lock()
	b.srv = srv
	b.addr = srv.Addr().String()
	if b.reg != nil {
		srv.SetSchemaValidator(b.reg.Validator())
	}
	b.mu.Unlock()
	return nil
}

// pinListeners replaces the ports of configured listeners (an internal
// test's server.Config.Listeners) with the ones the first start found.
func (b *Broker) pinListeners() {
	b.cfg.Listeners = slices.Clone(b.cfg.Listeners)
	for i, l := range b.cfg.Listeners {
		name := l.Name
		if name == "" {
			name = l.Protocol
		}
		if a := b.srv.ListenerAddr(name); a != nil {
			b.cfg.Listeners[i].Addr = a.String()
		}
	}
}

func (b *Broker) createTopics(ctx context.Context) error {
	if len(b.o.topics) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, t := range b.o.topics {
		if _, err := adm.CreateTopic(ctx, t.partitions, 1, nil, t.name); err != nil {
			return fmt.Errorf("create topic %s: %w", t.name, err)
		}
	}
	return nil
}

func (b *Broker) startRegistry(ctx context.Context) error {
	reg, err := registry.New(ctx, registry.Config{
		Brokers: []string{b.addr},
		Listen:  "127.0.0.1:0",
		Logger:  b.cfg.Logger.With("component", "registry"),
	})
	if err != nil {
		return fmt.Errorf("open registry: %w", err)
	}
	if err := reg.Start(); err != nil {
		reg.Close()
		return fmt.Errorf("start registry: %w", err)
	}
	b.mu.Lock()
	b.reg = reg
	b.url = "http://" + reg.Addr().String()
	if b.srv != nil {
		b.srv.SetSchemaValidator(reg.Validator())
	}
	b.mu.Unlock()
	return nil
}

// Addr is the broker's host:port, for kgo.SeedBrokers and the like.
func (b *Broker) Addr() string { return b.addr }

// DataDir is the broker's data directory.
func (b *Broker) DataDir() string { return b.cfg.DataDir }

// RegistryURL is the schema registry's base URL, e.g.
// "http://127.0.0.1:38117", for sr.URLs; "" without WithRegistry.
func (b *Broker) RegistryURL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.url
}

// server is the running server, or nil after Close.
func (b *Broker) server() *server.Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srv
}

// Restart closes the broker gracefully and opens it again on the same data
// dir and port. Clients, the registry included, reconnect on their own.
// Under NewBroker a failure also fails the test.
func (b *Broker) Restart() error {
	if b.tb != nil {
		b.tb.Helper()
	}
	err := b.closeBroker()
	if err == nil {
		err = b.start()
	}
	if err != nil && b.tb != nil {
		b.tb.Fatalf("heraldtest: restart: %v", err)
	}
	return err
}

// Close stops the registry and the broker; it is idempotent and, under
// NewBroker, runs at cleanup, where a failure also fails the test.
func (b *Broker) Close() error {
	if b.tb != nil {
		b.tb.Helper()
	}
	b.mu.Lock()
	reg, dir := b.reg, b.tempDir
	b.reg, b.tempDir = nil, ""
	b.mu.Unlock()
	var err error
	if reg != nil {
		err = reg.Close()
	}
	err = errors.Join(err, b.closeBroker())
	if dir != "" {
		err = errors.Join(err, os.RemoveAll(dir))
	}
	if err != nil && b.tb != nil {
		b.tb.Errorf("heraldtest: close: %v", err)
	}
	return err
}

func (b *Broker) closeBroker() error {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Close(); err != nil {
		return fmt.Errorf("close broker: %w", err)
	}
	return nil
}

// tbWriter sends the broker's log lines to the test log.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Logf("%s", p)
	return len(p), nil
}

// Package heraldtest starts an in-process Herald broker for tests: a random
// free port on 127.0.0.1 and a temporary data dir, closed when the test
// ends.
//
//	func TestOrders(t *testing.T) {
//		b := heraldtest.NewBroker(t, heraldtest.WithDurability("none"))
//		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
//		...
//		b.Restart() // same port, same data: acknowledged records survive
//	}
package heraldtest

import (
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/server"
)

// Broker is a running in-process broker.
type Broker struct {
	tb   testing.TB
	cfg  server.Config
	addr string

	mu  sync.Mutex
	srv *server.Server // nil while closed
}

// Option changes how NewBroker starts the broker.
type Option func(*options)

type options struct {
	cfg     server.Config
	dataDir string
	edits   []func(*server.Config)
}

// WithDurability sets the durability policy: "always" (the default),
// "interval=<duration>" or "none".
func WithDurability(d string) Option { return func(o *options) { o.cfg.Durability = d } }

// WithDataDir uses dir instead of a new temporary directory; it is not
// removed afterwards.
func WithDataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

// WithConfig edits the server config after the other options; a
// ListenAddr set here replaces the random port.
func WithConfig(f func(*server.Config)) Option {
	return func(o *options) { o.edits = append(o.edits, f) }
}

// NewBroker starts a broker and registers its Close with tb.Cleanup. It
// fails the test if the broker cannot start.
func NewBroker(tb testing.TB, opts ...Option) *Broker {
	tb.Helper()
	o := options{cfg: server.DefaultConfig()}
	o.cfg.ListenAddr = "127.0.0.1:0"
	o.cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		o.cfg.Logger = slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	for _, opt := range opts {
		opt(&o)
	}
	o.cfg.DataDir = o.dataDir
	if o.cfg.DataDir == "" {
		o.cfg.DataDir = tb.TempDir()
	}
	for _, f := range o.edits {
		f(&o.cfg)
	}
	b := &Broker{tb: tb, cfg: o.cfg}
	b.start()
	// The first start found a free port; restarts reuse it.
	b.cfg.ListenAddr = b.addr
	tb.Cleanup(b.Close)
	return b
}

func (b *Broker) start() {
	b.tb.Helper()
	srv, err := server.New(b.cfg)
	if err != nil {
		b.tb.Fatalf("heraldtest: open broker: %v", err)
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		b.tb.Fatalf("heraldtest: start broker: %v", err)
	}
	b.mu.Lock()
	b.srv = srv
	b.addr = srv.Addr().String()
	b.mu.Unlock()
}

// Addr is the broker's host:port, for kgo.SeedBrokers and the like.
func (b *Broker) Addr() string { return b.addr }

// DataDir is the broker's data directory.
func (b *Broker) DataDir() string { return b.cfg.DataDir }

// Server is the running server, or nil after Close.
func (b *Broker) Server() *server.Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srv
}

// Restart closes the broker gracefully and opens it again on the same data
// dir and port. Clients reconnect on their own.
func (b *Broker) Restart() {
	b.tb.Helper()
	b.Close()
	b.start()
}

// Close stops the broker; it is idempotent and runs at cleanup.
func (b *Broker) Close() {
	b.tb.Helper()
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv == nil {
		return
	}
	if err := srv.Close(); err != nil {
		b.tb.Errorf("heraldtest: close broker: %v", err)
	}
}

// tbWriter sends the broker's log lines to the test log.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Logf("%s", p)
	return len(p), nil
}

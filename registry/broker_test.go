package registry

import (
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/server"
)

// testBroker is Herald's broker in process, on a random port and a temp
// dir. The registry's own tests cannot use heraldtest, which imports this
// package to start a registry next to its broker.
type testBroker struct {
	t   testing.TB
	cfg server.Config

	mu  sync.Mutex
	srv *server.Server
}

// newTestBroker starts a broker with the given durability ("always" if
// empty) and closes it when the test ends.
func newTestBroker(t testing.TB, durability string) *testBroker {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if durability != "" {
		cfg.Durability = durability
	}
	b := &testBroker{t: t, cfg: cfg}
	b.start()
	b.cfg.ListenAddr = b.Addr() // restarts keep the port
	t.Cleanup(b.close)
	return b
}

func (b *testBroker) start() {
	b.t.Helper()
	srv, err := server.New(b.cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		b.t.Fatal(err)
	}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
}

func (b *testBroker) Server() *server.Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srv
}

func (b *testBroker) Addr() string { return b.Server().Addr().String() }

// Restart closes the broker gracefully and opens it again, same port and data.
func (b *testBroker) Restart() {
	b.t.Helper()
	b.close()
	b.start()
}

func (b *testBroker) close() {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv != nil {
		if err := srv.Close(); err != nil {
			b.t.Errorf("close broker: %v", err)
		}
	}
}

package server

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/buildinfo"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDefaultListenIsLoopback(t *testing.T) {
	host, _, err := net.SplitHostPort(DefaultConfig().ListenAddr)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Fatalf("default listen address %q is not loopback", DefaultConfig().ListenAddr)
	}
}

// TestStartLogs starts a server on loopback and on every interface: both
// log the version, only the second warns that it is exposed.
func TestStartLogs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen string
		warn   bool
	}{
		{name: "loopback", listen: "127.0.0.1:0"},
		{name: "every interface", listen: ":0", warn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			cfg := DefaultConfig()
			cfg.DataDir, cfg.ListenAddr, cfg.Durability = t.TempDir(), tc.listen, "none"
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			srv, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				srv.Close()
				t.Fatal(err)
			}
			if err := srv.Close(); err != nil {
				t.Fatal(err)
			}
			out := logs.String()
			if !strings.Contains(out, buildinfo.Read().String()) {
				t.Errorf("start log does not name the version %q:\n%s", buildinfo.Read().String(), out)
			}
			if got := strings.Contains(out, "without authentication"); got != tc.warn {
				t.Errorf("exposure warning logged %v, want %v:\n%s", got, tc.warn, out)
			}
		})
	}
}

package server

import (
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/buildinfo"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestDefaultListenIsLoopback(t *testing.T) {
	host, _, err := net.SplitHostPort(DefaultConfig().ListenAddr)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Fatalf("default listen address %q is not loopback", DefaultConfig().ListenAddr)
	}
}

// TestStartLogs starts a server on loopback: it logs the version and no
// exposure warning.
func TestStartLogs(t *testing.T) {
	var logs testenv.Buffer
	cfg := DefaultConfig()
	cfg.DataDir, cfg.ListenAddr, cfg.Durability = t.TempDir(), "127.0.0.1:0", "none"
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
	if strings.Contains(out, "without authentication") {
		t.Errorf("loopback listener logged the exposure warning:\n%s", out)
	}
}

// TestWarnIfExposed checks which listener addresses get the warning
// (without listening on other interfaces in a test).
func TestWarnIfExposed(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		warn bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092}, false},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 9092}, false},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 9092}, true},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 9092}, true},
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 9092}, true},
	} {
		var logs testenv.Buffer
		WarnIfExposed(slog.New(slog.NewTextHandler(&logs, nil)), "kafka", tc.addr)
		if got := strings.Contains(logs.String(), "without authentication"); got != tc.warn {
			t.Errorf("%s: warning %v, want %v: %s", tc.addr, got, tc.warn, logs.String())
		}
	}
}

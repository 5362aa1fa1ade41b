package server

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// TestLimitsReachTheListener: the connection limits in Config reach the
// Kafka listener: with a short idle timeout a silent client is closed.
func TestLimitsReachTheListener(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir, cfg.ListenAddr = t.TempDir(), "127.0.0.1:0"
	cfg.IdleTimeout = 200 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("silent client: read %v, want EOF once the 200ms idle timeout passes", err)
	}
}

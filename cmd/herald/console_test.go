package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/stream"
)

// freeAddr is a loopback address nothing listens on (taken and released).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitGet polls url until it answers 200 with a body holding want.
func waitGet(t *testing.T, url, want string) {
	t.Helper()
	testenv.CheckFor(t, 30*time.Second, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			return fmt.Errorf("GET %s: %d %q", url, resp.StatusCode, b)
		}
		return nil
	})
}

// get fetches url once.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// runUntil runs a command line until the test cancels it, and checks that
// it then returns without an error.
func runUntil(t *testing.T, args ...string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := runCLI(t, ctx, args...)
		done <- err
	}()
	var once sync.Once
	return func() { once.Do(func() { stopRun(t, args, cancel, done) }) }
}

// stopRun cancels a command and waits for it to return.
func stopRun(t *testing.T, args []string, cancel func(), done chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%v: %v", args, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("%v did not stop", args)
	}
}

// TestConsoleCommand: herald console serves the console in front of a
// broker it did not start.
func TestConsoleCommand(t *testing.T) {
	b := heraldtest.NewBroker(t, heraldtest.WithTopics(1, "orders"))
	addr := freeAddr(t)
	stop := runUntil(t, "console", "--brokers", b.Addr(), "--listen", addr, "--log-level", "error")
	defer stop()
	waitGet(t, "http://"+addr+"/readyz", "ready")
	waitGet(t, "http://"+addr+"/topics", "orders")
	// /metrics alone: its own requests, the cluster as it samples it, Go's.
	for _, want := range []string{`herald_console_http_requests_total{code="200",method="GET",route="GET /topics"} 1`,
		`herald_console_partition_end_offset{partition="0",topic="orders"} 0`, "go_goroutines"} {
		waitGet(t, "http://"+addr+"/metrics", want)
	}
}

// TestServeHTTPListen: herald serve serves the console, with the schema
// pages over its own registry, on --http-listen.
func TestServeHTTPListen(t *testing.T) {
	httpAddr, regAddr := freeAddr(t), freeAddr(t)
	stop := runUntil(t, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--registry-listen", regAddr,
		"--http-listen", httpAddr, "--log-level", "error")
	defer stop()
	waitGet(t, "http://"+httpAddr+"/healthz", "ok")
	waitGet(t, "http://"+httpAddr+"/readyz", "ready")
	waitGet(t, "http://"+httpAddr+"/schemas", "Global compatibility level")
	// /metrics on the same listener: the broker's and the registry's.
	for _, want := range []string{"herald_kafka_requests_total{api=\"Metadata\"}", "herald_connections_open", "herald_registry_requests_total{",
		"herald_storage_fsync_duration_seconds_bucket", "go_goroutines", `herald_console_http_requests_total{code="200",method="GET",route="GET /readyz"}`} {
		waitGet(t, "http://"+httpAddr+"/metrics", want)
	}
	// The trace page has the broker's correlation index behind it.
	if status, body := get(t, "http://"+httpAddr+"/trace/no-such-flow"); status != http.StatusNotFound || !strings.Contains(body, "no event has the correlation id") {
		t.Errorf("trace of an unknown id: %d %q", status, body)
	}
	// An open event stream does not hold the shutdown up.
	resp, err := http.Get("http://" + httpAddr + "/topics/__consumer_offsets/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("event stream: %d", resp.StatusCode)
	}
	start := time.Now()
	stop()
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("serve took %v to stop with an event stream open", d)
	}
}

// TestConsoleStreamApp: --stream-app name=URL (repeatable) adds the
// app's topology page; a value without name= is refused.
func TestConsoleStreamApp(t *testing.T) {
	b := heraldtest.NewBroker(t)
	top := stream.NewTopology()
	stream.Count(stream.GroupByKey(stream.Source(top, "payments", stream.String(), stream.String()), stream.String(), stream.String()), "per-card")
	app, err := stream.New(top, stream.Config{AppID: "fraud", Brokers: []string{b.Addr()}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(app)
	defer hs.Close()
	addr := freeAddr(t)
	stop := runUntil(t, "console", "--brokers", b.Addr(), "--listen", addr, "--log-level", "error",
		"--stream-app", "fraud="+hs.URL, "--stream-app", "other=http://127.0.0.1:1")
	defer stop()
	waitGet(t, "http://"+addr+"/streams", `href="/streams/other"`)
	waitGet(t, "http://"+addr+"/streams/fraud", `data-id="per-card"`)

	if _, err := runCLI(t, context.Background(), "console", "--brokers", b.Addr(), "--listen", freeAddr(t), "--stream-app", hs.URL); err == nil || !strings.Contains(err.Error(), "name=") {
		t.Errorf("--stream-app without a name: %v, want an error asking for name=URL", err)
	}
}

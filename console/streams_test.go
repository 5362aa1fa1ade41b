package console_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/stream"
)

// newStreamApp returns a real stream.App (not run: its topology is
// served without Run) behind an httptest server.
func newStreamApp(t *testing.T) *httptest.Server {
	t.Helper()
	top := stream.NewTopology()
	placed := stream.Source(top, "orders", stream.String(), stream.String()).Filter(func(_, v string) bool { return v != "" })
	counts := stream.Count(stream.GroupByKey(placed, stream.String(), stream.String()), "order-counts")
	counts.ToStream().To("order-totals", stream.String(), stream.Int64())
	app, err := stream.New(top, stream.Config{AppID: "analytics", Brokers: []string{"127.0.0.1:1"}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(app)
	t.Cleanup(hs.Close)
	return hs
}

// TestStreamPages: /streams lists the apps; /streams/{name} draws the
// app's topology (served by its real handler) as SVG with its nodes and
// the text description; an unknown app is the 404 page; an unreachable
// app answers a clear error.
func TestStreamPages(t *testing.T) {
	app := newStreamApp(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()
	e := newEnvWith(t, func(c *console.Config) {
		c.StreamApps = map[string]string{"analytics": app.URL, "fraud": goneURL}
	})

	code, body := e.get("/streams")
	if code != http.StatusOK || !strings.Contains(body, `href="/streams/analytics"`) || !strings.Contains(body, `href="/streams/fraud"`) {
		t.Fatalf("/streams: %d, want both apps linked:\n%s", code, body)
	}
	code, body = e.get("/streams/analytics")
	if code != http.StatusOK {
		t.Fatalf("/streams/analytics: %d\n%s", code, body)
	}
	for _, want := range []string{"<svg", `data-id="orders"`, `data-id="order-counts"`, `data-id="analytics-order-counts-changelog"`,
		`data-id="order-totals"`, `class="edge" data-from="orders"`, `<pre id="topology-text">Sub-topology 0: sources [orders]`} {
		if !strings.Contains(body, want) {
			t.Errorf("/streams/analytics lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, `id="stream-error"`) {
		t.Errorf("/streams/analytics shows an error:\n%s", body)
	}

	code, body = e.get("/streams/fraud")
	if code != http.StatusBadGateway || !strings.Contains(body, `id="stream-error"`) || !strings.Contains(body, "unreachable") || !strings.Contains(body, goneURL) {
		t.Errorf("/streams/fraud (app down): %d, want 502 saying %s is unreachable:\n%s", code, goneURL, body)
	}

	code, body = e.get("/streams/nope")
	if code != http.StatusNotFound || !strings.Contains(body, `no stream app &#34;nope&#34;`) {
		t.Errorf("/streams/nope: %d, want the 404 page naming the app:\n%s", code, body)
	}
}

// TestStreamAppsConfig: a bad StreamApps entry is a configuration error,
// and without stream apps there are no stream pages.
func TestStreamAppsConfig(t *testing.T) {
	for _, apps := range []map[string]string{{"a/b": "http://x:1"}, {"a": "x:1"}, {"a": "ftp://x"}, {"": "http://x:1"}} {
		cfg := console.Config{Brokers: []string{"127.0.0.1:1"}, StreamApps: apps}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "StreamApps") {
			t.Errorf("StreamApps %v: Validate = %v, want an error", apps, err)
		}
	}
	e := newEnv(t)
	if code, body := e.get("/streams"); code != http.StatusNotFound || strings.Contains(body, `href="/streams"`) {
		t.Errorf("/streams without apps: %d, want 404 and no nav link", code)
	}
}

package console_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/testenv"
)

// screenshotsEnv names the environment variable that makes TestBrowser
// write its screenshots to docs/console (to commit them); without it they
// are only checked to be images.
const screenshotsEnv = "HERALD_CONSOLE_SCREENSHOTS"

// browser drives one headless Chromium tab and collects what its pages
// write to the console as errors.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu   sync.Mutex
	errs []string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := testenv.Tool(t, "chromium", "scripts/ensure-tools.sh (as root) installs the Debian package chromium")
	if path == "" {
		return nil
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 860))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, base: base}
	messages := chromedp.Console(ctx) // starts the browser and subscribes
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errs = append(b.errs, fmt.Sprintf("%s (%s)", m, m.URL))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// visit opens path and waits until sel is visible.
func (b *browser) visit(path, sel string) {
	b.t.Helper()
	b.t.Logf("%v visit %s", time.Now().Format("05.000"), path)
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		b.t.Fatalf("visit %s, wait for %s: %v", path, sel, err)
	}
}

// text is sel's text.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	for {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err == nil {
			return s
		}
		// Chromium swaps the page's JavaScript context when a navigation
		// settles late, and a refreshing page swaps its nodes; a query
		// caught in a swap names the old one. Ask again.
		if !contextSwapped(err) || ctx.Err() != nil {
			b.t.Fatalf("text of %s: %v", sel, err)
		}
	}
}

// contextSwapped reports the errors of a query that ran while the page's
// execution context was being replaced, or while the node it had found
// was (a page that refreshes its content swaps the node between the
// query and the read of its text).
func contextSwapped(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Cannot find context with specified id") ||
		strings.Contains(msg, "Execution context was destroyed") ||
		strings.Contains(msg, "No node with given id found")
}

// waitText polls until sel's text holds want, without reloading.
func (b *browser) waitText(sel, want string) {
	b.t.Helper()
	testenv.CheckFor(b.t, 20*time.Second, func() error {
		if s := b.text(sel); !strings.Contains(s, want) {
			return fmt.Errorf("%s shows %q, want %q", sel, clip(s), want)
		}
		return nil
	})
}

// shot screenshots the page as docs/console/name.png (with the env var).
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		b.t.Fatalf("screenshot %s is not a PNG: %v", name, err)
	}
	if os.Getenv(screenshotsEnv) == "1" {
		if err := os.WriteFile(filepath.Join("..", "docs", "console", name+".png"), img, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// noErrors fails on console errors other than the HTTP status of a page
// that is meant to answer one (allowStatus, e.g. "404").
func (b *browser) noErrors(allowStatus string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errs {
		if allowStatus != "" && strings.Contains(e, "status of "+allowStatus) {
			continue
		}
		b.t.Errorf("browser console error: %s", e)
	}
	b.errs = nil
}

// TestBrowser opens every page in headless Chromium: the content is there,
// a record produced while the messages page is open appears in it, a
// stopped consumer's lag shows and grows live, a draft schema is checked
// from the keyboard, and no page writes an error to the console.
func TestBrowser(t *testing.T) {
	sagas, _ := sagaFixture(t)
	projections := projFixture(t)
	app := newStreamApp(t)
	e := newEnvWith(t, func(c *console.Config) {
		c.Sagas, c.Projections, c.StreamApps = sagas, projections, map[string]string{"analytics": app.URL}
	},
		heraldtest.WithTopics(2, "orders"), heraldtest.WithTopics(1, "payments"))
	b := newBrowser(t, e.hs.URL)
	if b == nil {
		return
	}
	ctx := context.Background()
	v1 := `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"qty","type":"long"}]}`
	v2 := `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"qty","type":"long"},{"name":"currency","type":"string","default":"EUR"}]}`
	for _, s := range []string{v1, v2} {
		if _, err := e.src.CreateSchema(ctx, "orders-value", sr.Schema{Type: sr.TypeAvro, Schema: s}); err != nil {
			t.Fatal(err)
		}
	}
	avro := registerAndEncode(t, e, "orders-value", sr.Schema{Type: sr.TypeAvro, Schema: v2}, map[string]any{"id": "o-1", "qty": int64(2), "currency": "USD"})
	e.produce(
		&kgo.Record{Topic: "orders", Partition: 0, Key: []byte("o-1"), Value: avro, Headers: []kgo.RecordHeader{
			{Key: "ce_id", Value: []byte("e-1")}, {Key: "ce_type", Value: []byte("order.placed")}, {Key: "ce_source", Value: []byte("/shop")}}},
		&kgo.Record{Topic: "orders", Partition: 1, Key: []byte("o-2"), Value: []byte(`{"id":"o-2","note":"plain JSON"}`)},
		&kgo.Record{Topic: "orders", Partition: 1, Key: []byte("bin"), Value: []byte{0xde, 0xad, 0xbe, 0xef}},
		&kgo.Record{Topic: "orders", Partition: 0, Key: []byte("big"), Value: bytes.Repeat([]byte("x"), 5000)},
		&kgo.Record{Topic: "payments", Key: []byte("p-1"), Value: []byte(`{"order":"o-1","cents":995}`)},
	)
	consume(t, e, "billing", "orders", 2)

	b.visit("/", "#topics")
	if s := b.text("#topics"); !strings.Contains(s, "orders") || !strings.Contains(s, "payments") {
		t.Fatalf("overview topics: %q", s)
	}
	// The sparklines fill in live, without a reload.
	pollTrue(t, b, `document.querySelector("#spark-records polyline").getAttribute("points").split(" ").length >= 3`)
	pollTrue(t, b, `document.querySelector("#spark-fsync polyline").getAttribute("points").split(" ").length >= 3`)
	b.shot("overview")
	b.noErrors("")

	b.visit("/topics", "#topics")
	b.shot("topics")
	b.visit("/topics/orders", "#partitions")
	if s := b.text("#partition-count"); s != "2" {
		t.Fatalf("partition count %q", s)
	}
	b.shot("topic")
	b.noErrors("")

	// The browser: decoded Avro, CloudEvents, hex, truncation; then a
	// record produced now appears without a reload.
	b.visit("/topics/orders/messages?live=1", "#records")
	body := b.text("#records")
	for _, want := range []string{`"currency":"USD"`, "ce_type: order.placed", "deadbeef", "truncated: download all 5000 bytes", "plain JSON"} {
		if !strings.Contains(body, want) {
			t.Fatalf("messages lack %q:\n%s", want, body)
		}
	}
	pollTrue(t, b, `document.getElementById("live-toggle").dataset.state === "open"`)
	e.produce(&kgo.Record{Topic: "orders", Partition: 1, Key: []byte("o-live"), Value: []byte(`{"id":"o-live","status":"paid"}`)})
	b.waitText("#records tbody tr:first-child", "o-live")
	b.shot("messages")
	b.noErrors("")

	// A stopped consumer's lag, updated live as records arrive.
	b.visit("/groups", "#groups")
	if s := b.text("#groups"); !strings.Contains(s, "billing") {
		t.Fatalf("groups: %q", s)
	}
	b.shot("groups")
	b.visit("/groups/billing", "#lag")
	if s := b.text("#group-state"); s != "Empty" {
		t.Fatalf("group state %q", s)
	}
	b.waitText("#total-lag", "3") // 5 in orders, 2 consumed
	e.produce(&kgo.Record{Topic: "orders", Partition: 0, Value: []byte("more")}, &kgo.Record{Topic: "orders", Partition: 1, Value: []byte("more")})
	b.waitText("#total-lag", "5")
	// The lag history chart follows, live.
	b.waitText("#lag-chart-last", "5")
	pollTrue(t, b, `document.querySelector("#lag-chart polyline").getAttribute("points").split(" ").length >= 2`)
	b.shot("group")
	b.noErrors("")

	// Schemas: the list, a diff of two versions, a draft checked from the
	// keyboard.
	b.visit("/schemas", "#subjects")
	if s := b.text("#subjects"); !strings.Contains(s, "orders-value") {
		t.Fatalf("subjects: %q", s)
	}
	b.shot("schemas")
	b.visit("/schemas/orders-value?a=1&b=2", "#diff")
	if s := b.text("#diff"); !strings.Contains(s, `+       "name": "currency"`) {
		t.Fatalf("diff: %q", s)
	}
	b.shot("schema-diff")
	checkDraft(t, b, `{"type":"string"}`)
	if s := b.text("#check-result"); !strings.Contains(s, "Not compatible") {
		t.Fatalf("check result: %q", s)
	}
	b.noErrors("")

	browseSagas(t, b)
	browseProjections(t, b)
	browseStreams(t, b)

	// Bad input: a 404 page and a malformed filter's message.
	b.visit("/topics/nope", "#error-message")
	if s := b.text("#error-message"); !strings.Contains(s, `topic "nope" does not exist`) {
		t.Fatalf("404 page: %q", s)
	}
	b.shot("not-found")
	b.noErrors("404")
	b.visit("/topics/orders/messages?regex=(", "#filter-error")
	if s := b.text("#filter-error"); !strings.Contains(s, "not a valid RE2 expression") {
		t.Fatalf("filter error: %q", s)
	}
	b.noErrors("400")

	// The listener itself works: an exception thrown in the page is seen.
	ctx2, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx2, chromedp.Evaluate[any](`setTimeout(function () { throw new Error("console-probe"); }, 0); 1`)); err != nil {
		t.Fatal(err)
	}
	testenv.CheckFor(t, 10*time.Second, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.errs {
			if strings.Contains(e, "console-probe") {
				b.errs = nil
				return nil
			}
		}
		return fmt.Errorf("the thrown error was not reported: %q", b.errs)
	})
}

// TestBrowserTrace: the trace page draws the three hops of a correlation
// chain with the groups that have processed each event, and is reached
// from the keyboard.
func TestBrowserTrace(t *testing.T) {
	e := newEnv(t, heraldtest.WithTopics(1, "orders", "payments", "shipments"))
	b := newBrowser(t, e.hs.URL)
	if b == nil {
		return
	}
	produceChain(e)
	consume(t, e, "billing", "orders", 2)
	commitAt(t, e, "shipping", "payments", 0)

	b.visit("/trace", "#trace-id")
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#trace-id"), "evt-shipped\r"), chromedp.WaitVisible(chromedp.CSS("#trace-graph"))); err != nil {
		t.Fatalf("trace from the keyboard: %v", err)
	}
	nodes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#trace-graph g.node")).map(function (g) { return g.dataset.id; })`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(nodes, " ") != "evt-order evt-paid evt-shipped" {
		t.Fatalf("graph nodes %q", nodes)
	}
	edges, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#trace-graph g.edge")).map(function (g) { return g.dataset.from + ">" + g.dataset.to + " " + g.textContent.trim(); })`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(edges, ", ") != "evt-order>evt-paid +150ms, evt-paid>evt-shipped +1s" {
		t.Fatalf("graph edges %q", edges)
	}
	if s := b.text(`#trace-events tr[data-id="evt-order"] .processed`); s != "billing" {
		t.Fatalf("order processed by %q", s)
	}
	if s := b.text(`#trace-events tr[data-id="evt-paid"] .pending`); s != "shipping" {
		t.Fatalf("payment pending in %q", s)
	}
	b.shot("trace")
	b.noErrors("")
}

// browseSagas: the saga list filtered from the keyboard, a done
// instance's steps and events, a stuck one's retry requested through its
// confirmation, and an unknown id's 404 page.
func browseSagas(t *testing.T, b *browser) {
	t.Helper()
	b.visit("/sagas", "#sagas")
	if s := b.text("#saga-count"); !strings.HasPrefix(s, "3 instances") {
		t.Fatalf("saga count %q", s)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`select[name="state"]`), "stuck"),
		chromedp.Click(chromedp.CSS(`#saga-filter button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#sagas")))
	if err != nil {
		t.Fatalf("filter sagas: %v", err)
	}
	b.waitText("#saga-count", "1 instances")
	if s := b.text("#sagas tbody"); !strings.Contains(s, "o-3") || !strings.Contains(s, "stuck") || strings.Contains(s, "o-1") {
		t.Fatalf("stuck sagas: %q", s)
	}
	b.visit("/sagas", "#sagas")
	b.shot("sagas")
	b.noErrors("")

	b.visit("/sagas/o-1", "#saga-steps")
	if s := b.text("#saga-state"); s != "done" {
		t.Fatalf("o-1 state %q", s)
	}
	if s := b.text("#saga-sent"); !strings.Contains(s, "o-1/0/do/1") || !strings.Contains(s, "o-1/1/do/1") {
		t.Fatalf("o-1 sent %q", s)
	}
	if s := b.text("#saga-received"); !strings.Contains(s, "evt-reserved-1") || !strings.Contains(s, "evt-charged-1") {
		t.Fatalf("o-1 received %q", s)
	}
	if s := b.text("#saga-steps tbody"); strings.Count(s, "action") != 2 {
		t.Fatalf("o-1 steps %q", s)
	}
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("saga-trace").getAttribute("href")`))
	if err != nil || href != "/trace/o-1" {
		t.Fatalf("trace link %q %v", href, err)
	}
	b.shot("saga")
	b.noErrors("")

	b.visit("/sagas/o-3", "#retry-form")
	err = chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#retry-form input[name="confirm"]`), "o-3"),
		chromedp.Click(chromedp.CSS(`#retry-form button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#saga-requested")))
	if err != nil {
		t.Fatalf("retry o-3: %v", err)
	}
	if s := b.text("#saga-requested"); !strings.Contains(s, "retry requested") {
		t.Fatalf("retry notice %q", s)
	}
	b.noErrors("")

	b.visit("/sagas/o-9", "#error-message")
	if s := b.text("#error-message"); !strings.Contains(s, "no such instance") {
		t.Fatalf("unknown saga: %q", s)
	}
	b.noErrors("404")
}

// browseProjections: each projection's position, lag and state, the
// stopped one's poisoned event.
func browseProjections(t *testing.T, b *browser) {
	t.Helper()
	b.visit("/projections", "#projections")
	if s := b.text("#projection-totals"); !strings.Contains(s, "totals_g1") || !strings.Contains(s, "running") {
		t.Fatalf("totals: %q", s)
	}
	if s := b.text("#projection-fragile"); !strings.Contains(s, "stopped at event 11") || !strings.Contains(s, "cannot read poison") {
		t.Fatalf("fragile: %q", s)
	}
	b.shot("projections")
	b.noErrors("")
}

// browseStreams: the stream apps' list, and one app's topology drawn as
// SVG with its description.
func browseStreams(t *testing.T, b *browser) {
	t.Helper()
	b.visit("/streams", "#streams")
	b.visit("/streams/analytics", "#topology-graph")
	if s := b.text("#topology"); !strings.Contains(s, "order-counts") || !strings.Contains(s, "analytics-order-counts-changelog") {
		t.Fatalf("topology drawing: %q", s)
	}
	if s := b.text("#topology-text"); !strings.Contains(s, "Sub-topology 0: sources [orders]") {
		t.Fatalf("topology text: %q", s)
	}
	b.shot("streams")
	b.noErrors("")
}

// pollTrue waits until the JavaScript expression is true.
func pollTrue(t *testing.T, b *browser, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s: %v", expr, err)
	}
}

// checkDraft types a draft schema into the subject page's form and submits
// it with the keyboard.
func checkDraft(t *testing.T, b *browser, draft string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`textarea[name="schema"]`), draft),
		chromedp.Click(chromedp.CSS(`form[action$="/check"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#check-result")),
	)
	if err != nil {
		t.Fatalf("check draft: %v", err)
	}
}

package system_test

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldhq/herald/examples/orders/orders"
	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/examples/orders/system"
	"github.com/heraldhq/herald/internal/testenv"
)

// screenshotEnv names the environment variable that makes TestTraceInConsole
// write its screenshot to examples/orders/trace.png (to commit it, for
// the README's walkthrough).
const screenshotEnv = "HERALD_ORDERS_SCREENSHOT"

// TestTraceInConsole: the console's flow trace of one order, opened in
// headless Chromium by the order's correlation id, shows its whole story:
// every event of the choreography, from order.placed to order.shipped,
// with the services that wrote them.
func TestTraceInConsole(t *testing.T) {
	path := testenv.Tool(t, "chromium", "scripts/ensure-tools.sh (as root) installs the Debian package chromium")
	if path == "" {
		return
	}
	ctx := context.Background()
	sys, err := system.Start(ctx, system.Config{Durability: "none", DataDir: t.TempDir(), ConsoleAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Close() })
	const corr = "my-first-order"
	code, m := call(t, "POST", sys.OrdersURL+"/orders", `{"customer":"c-1","card":"4242424242424242","items":[{"sku":"tea","qty":2}]}`,
		orders.CorrelationHeader, corr)
	if code != http.StatusCreated {
		t.Fatalf("place: %d %v", code, m)
	}
	id := m["order_id"].(string)
	poll(t, time.Minute, func() error {
		if v := viewOf(t, sys, id); v.Status != shop.StatusShipped {
			return os.ErrNotExist
		}
		return nil
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(2450, 1100)) // wide enough for the whole graph
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil { // starts the browser, without a timeout
		t.Fatal(err)
	}
	bctx, cancelT := context.WithTimeout(bctx, 2*time.Minute)
	defer cancelT()
	want := []string{shop.OrderPlacedType, shop.StockReservedType, shop.PaymentChargedType, shop.OrderPaidType,
		shop.ShipmentShippedType, shop.OrderShippedType, shop.OrderStatusType}
	var text string
	var rows int
	// The order.status of order.shipped may reach the index a moment after
	// the order is shipped: load the page again until every event is on it.
	for deadline := time.Now().Add(time.Minute); ; {
		err := chromedp.Do(bctx, chromedp.Navigate(sys.ConsoleURL+"/trace/"+corr), chromedp.WaitVisible(chromedp.CSS("#trace-graph")))
		if err == nil {
			text, err = chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body")))
		}
		if err == nil {
			rows, err = chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#trace-events tr[data-id]").length`))
		}
		if err != nil {
			t.Fatalf("trace page: %v", err)
		}
		// Six events of the saga, and an order.status for placed, paid
		// and shipped.
		if !slices.ContainsFunc(want, func(typ string) bool { return !strings.Contains(text, typ) }) && rows == 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the trace of %s has %d events, want 9; it shows:\n%s", corr, rows, text)
		}
		time.Sleep(200 * time.Millisecond) // polling interval, not synchronisation
	}
	// The page keeps to a laptop's width and scrolls the graph; for the
	// picture, let the graph's boxes take the window's width.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[int](`(function () {
		for (var e = document.getElementById("trace-graph").parentElement; e; e = e.parentElement) {
			e.style.maxWidth = "none"; e.style.overflow = "visible";
		}
		return 0;
	})()`)); err != nil {
		t.Fatal(err)
	}
	img, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if os.Getenv(screenshotEnv) != "" {
		if err := os.WriteFile(filepath.Join("..", "trace.png"), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

package system_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/examples/orders/inventory"
	"github.com/heraldhq/herald/examples/orders/orders"
	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/examples/orders/system"
	"github.com/heraldhq/herald/saga"
)

func call(t *testing.T, method, url, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %s: %v", method, url, b, err)
	}
	return resp.StatusCode, m
}

// poll calls cond until it returns nil or the deadline passes.
// getBody fetches url, which must answer 200.
func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

func poll(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for err := cond(); err != nil; err = cond() {
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func viewOf(t *testing.T, sys *system.System, id string) orders.View {
	t.Helper()
	v, err := sys.Orders.View(context.Background(), id)
	if err != nil && !errors.Is(err, orders.ErrNotFound) {
		t.Fatal(err)
	}
	return v
}

// TestAPI: bad requests are refused with their reason and place nothing;
// a placed order is served from the read model with the request's
// correlation id; a shipped order cannot be cancelled.
func TestAPI(t *testing.T) {
	sys, err := system.Start(context.Background(), system.Config{Durability: "none", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Close() })
	u := sys.OrdersURL
	for _, tc := range []struct{ name, body, want string }{
		{"not json", `{`, "body"},
		{"no items", `{"customer":"c","card":"4242"}`, "required"},
		{"unknown product", `{"customer":"c","card":"4242","items":[{"sku":"nope","qty":1}]}`, "unknown product"},
		{"no quantity", `{"customer":"c","card":"4242","items":[{"sku":"tea","qty":0}]}`, "quantity"},
	} {
		code, m := call(t, "POST", u+"/orders", tc.body)
		if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(m["error"]), tc.want) {
			t.Errorf("%s: %d %v, want 400 with %q", tc.name, code, m, tc.want)
		}
	}
	if code, _ := call(t, "GET", u+"/orders/nope", ""); code != http.StatusNotFound {
		t.Errorf("GET unknown order: %d, want 404", code)
	}
	code, m := call(t, "POST", u+"/orders", `{"customer":"c-1","card":"4242424242424242","items":[{"sku":"tea","qty":2},{"sku":"mug","qty":1}]}`,
		orders.CorrelationHeader, "req-1")
	if code != http.StatusCreated || m["correlation_id"] != "req-1" || m["total"] != float64(2*450+900) {
		t.Fatalf("place: %d %v", code, m)
	}
	id := m["order_id"].(string)
	poll(t, time.Minute, func() error {
		if code, m := call(t, "GET", u+"/orders/"+id, ""); code != 200 || m["status"] != shop.StatusShipped || m["correlation_id"] != "req-1" {
			return fmt.Errorf("GET: %d %v", code, m)
		}
		return nil
	})
	if code, m := call(t, "POST", u+"/orders/"+id+"/cancel", ""); code != http.StatusConflict {
		t.Errorf("cancel a shipped order: %d %v, want 409", code, m)
	}
	views, err := sys.Orders.Views(context.Background())
	if err != nil || len(views) != 1 {
		t.Errorf("read model: %v %v, want the one order", views, err)
	}
}

// TestCancel: a customer cancels an order while the provider is charging
// it; in both saga styles the order ends cancelled, its stock is released
// and whatever the provider charged is refunded.
func TestCancel(t *testing.T) {
	for _, mode := range []shop.SagaMode{shop.Choreography, shop.Orchestration} {
		t.Run(string(mode), func(t *testing.T) {
			sys, err := system.Start(context.Background(), system.Config{Saga: mode, Durability: "none", DataDir: t.TempDir(),
				PaymentLatency: 1500 * time.Millisecond, ConsoleAddr: "127.0.0.1:0"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sys.Close() })
			code, m := call(t, "POST", sys.OrdersURL+"/orders", `{"customer":"c-2","card":"4242424242424242","items":[{"sku":"teapot","qty":2}]}`)
			if code != http.StatusCreated {
				t.Fatalf("place: %d %v", code, m)
			}
			id := m["order_id"].(string)
			ctx := context.Background()
			poll(t, time.Minute, func() error { // the stock is reserved: the provider is being asked
				res, err := sys.Inventory.Reservations(ctx)
				if err != nil || res[id].Status != inventory.Reserved {
					return fmt.Errorf("reservation %+v %w", res[id], err)
				}
				return nil
			})
			if code, m := call(t, "POST", sys.OrdersURL+"/orders/"+id+"/cancel", ""); code != 200 || m["status"] != shop.StatusCancelled {
				t.Fatalf("cancel: %d %v", code, m)
			}
			poll(t, time.Minute, func() error {
				res, err := sys.Inventory.Reservations(ctx)
				stock, err2 := sys.Inventory.Stock(ctx)
				ledger, _ := sys.Provider.Ledger()
				c, charged := ledger[id]
				switch {
				case err != nil || err2 != nil:
					return errors.Join(err, err2)
				case viewOf(t, sys, id).Status != shop.StatusCancelled:
					return fmt.Errorf("order is %s", viewOf(t, sys, id).Status)
				case res[id].Status != inventory.Released || stock["teapot"] != 40:
					return fmt.Errorf("reservation %+v, teapots %d", res[id], stock["teapot"])
				case charged && !c.Declined && !c.Refunded:
					return fmt.Errorf("provider: %+v, charged and not refunded", c)
				}
				return nil
			})
			if st := sys.Orders.Sagas(); st != nil {
				poll(t, time.Minute, func() error {
					corr := viewOf(t, sys, id).CorrelationID
					if in, err := st.Get(ctx, corr); err != nil || in.Status != saga.Compensated {
						return fmt.Errorf("saga %+v %w", in, err)
					}
					return nil
				})
				// The embedded console shows the saga and the read model.
				corr := viewOf(t, sys, id).CorrelationID
				if body := getBody(t, sys.ConsoleURL+"/sagas/"+corr); !strings.Contains(body, `<span class="tag state-compensated">compensated</span>`) {
					t.Errorf("the console's saga page:\n%s", body)
				}
			}
			if body := getBody(t, sys.ConsoleURL+"/projections"); !strings.Contains(body, "order_status") || !strings.Contains(body, "running") {
				t.Errorf("the console's projections page:\n%s", body)
			}
		})
	}
}

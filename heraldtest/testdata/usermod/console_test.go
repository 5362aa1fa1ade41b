package usermod_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/heraldtest"
)

// TestConsoleFromAnotherModule mounts the console in a service's own mux
// and produces and reads a record over its HTTP API.
func TestConsoleFromAnotherModule(t *testing.T) {
	b := heraldtest.NewBroker(t, heraldtest.WithRegistry(), heraldtest.WithTopics(1, "orders"))
	c, err := console.New(console.Config{Brokers: []string{b.Addr()}, RegistryURL: b.RegistryURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mux := http.NewServeMux()
	mux.Handle("/", c)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	resp, err := hs.Client().Post(hs.URL+"/topics/orders/records", "application/json",
		strings.NewReader(`{"key":{"type":"STRING","data":"o-1"},"value":{"data":{"id":"o-1"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	var pr console.ProduceResponse
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil || pr.ErrorCode != 200 {
		t.Fatalf("produce: %v %+v", err, pr)
	}
	resp.Body.Close()
	resp, err = hs.Client().Get(hs.URL + "/topics/orders/records?from=beginning")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Records []console.Record }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Records) != 1 || out.Records[0].Key.Data != "o-1" {
		t.Fatalf("consume: %v %+v", err, out)
	}
}

// flows is a service's own flow store, behind the console's Tracer.
type flows map[string][]console.TraceEvent

func (f flows) Trace(_ context.Context, id string) ([]console.TraceEvent, error) {
	if evs, ok := f[id]; ok {
		return evs, nil
	}
	return nil, console.ErrFlowNotFound
}

// TestConsoleTracerAndMetrics plugs a service's own flow source and
// Prometheus registry into the console.
func TestConsoleTracerAndMetrics(t *testing.T) {
	b := heraldtest.NewBroker(t)
	t0 := time.Now()
	reg := prometheus.NewRegistry()
	orders := prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_orders_total", Help: "Orders taken."})
	reg.MustRegister(orders)
	orders.Add(3)
	c, err := console.New(console.Config{Brokers: []string{b.Addr()}, Metrics: reg, Tracer: flows{"o-1": {
		{Topic: "orders", ID: "e-1", Type: "order.placed", CorrelationID: "o-1", Time: t0},
		{Topic: "payments", ID: "e-2", Type: "payment.captured", CorrelationID: "o-1", CausationID: "e-1", Time: t0.Add(40 * time.Millisecond)},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hs := httptest.NewServer(c)
	defer hs.Close()
	var tr console.Trace
	if status := getJSON(t, hs.URL+"/api/trace/o-1", &tr); status != 200 || len(tr.Nodes) != 2 || len(tr.Edges) != 1 || tr.Edges[0].GapMs != 40 {
		t.Fatalf("trace: %d %+v", status, tr)
	}
	if status := getJSON(t, hs.URL+"/api/trace/o-2", &tr); status != http.StatusNotFound {
		t.Fatalf("unknown flow: %d", status)
	}
	resp, err := hs.Client().Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "shop_orders_total 3") {
		t.Fatalf("metrics: %s", body)
	}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

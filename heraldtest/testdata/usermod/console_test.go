package usermod_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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

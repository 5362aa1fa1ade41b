package registry_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/heraldhq/herald/registry"
)

// BenchmarkSecuredRead reads a schema version over HTTP from a registry
// without authentication ("open") and from one with basic auth and topic
// ACLs ("basic-auth+acls"; both checks answered from their caches after
// the first request), side by side. Run with -bench SecuredRead -benchmem.
func BenchmarkSecuredRead(b *testing.B) {
	const path = "/subjects/orders-value/versions/latest"
	b.Run("open", func(b *testing.B) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		srv, err := registry.New(context.Background(), registry.Config{Brokers: c.ListenAddrs(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		hs := httptest.NewServer(srv.Handler())
		defer hs.Close()
		r := &securedRegistry{url: hs.URL}
		if status, body, _ := r.do(b, "", "", "POST", "/subjects/orders-value/versions", avroSchema); status != 200 {
			b.Fatalf("register: %d %s", status, body)
		}
		benchGet(b, r, "", "", path)
	})
	b.Run("basic-auth+acls", func(b *testing.B) {
		r := newSecuredRegistry(b)
		if status, body, _ := r.do(b, "admin", "admin-pw", "POST", "/subjects/orders-value/versions", avroSchema); status != 200 {
			b.Fatalf("register: %d %s", status, body)
		}
		benchGet(b, r, "alice", "alice-pw", path)
	})
}

func benchGet(b *testing.B, r *securedRegistry, user, pass, path string) {
	b.Helper()
	cl := &http.Client{}
	req, _ := http.NewRequest("GET", r.url+path, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		resp, err := cl.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
	}
}

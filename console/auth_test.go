package console_test

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/internal/tlsconf"
	"github.com/heraldhq/herald/internal/tlsconf/tlstest"
	"github.com/heraldhq/herald/kafkasec"
)

// TestConsoleSecured runs the console against a SASL_SSL cluster, served
// over HTTPS with optional client certificates and basic auth checked
// against the cluster's users.
func TestConsoleSecured(t *testing.T) {
	p := tlstest.New(t, "alice")
	kr, err := tlsconf.NewReloader(tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"), kfake.TLS(kr.ServerConfig()),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "console", "console-pw"), kfake.User("SCRAM-SHA-256", "bob", "bob-pw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	brokerTLS := kafkasec.TLS{CAFile: p.CA}
	authn, err := kafkasec.NewClusterAuthenticator(kafkasec.ClusterAuthConfig{Brokers: c.ListenAddrs(), TLS: brokerTLS})
	if err != nil {
		t.Fatal(err)
	}
	con, err := console.New(console.Config{
		Brokers:       c.ListenAddrs(),
		Security:      kafkasec.Config{TLS: brokerTLS, SASL: kafkasec.SASL{Mechanism: "SCRAM-SHA-512", Username: "console", Password: "console-pw"}},
		Authenticator: authn,
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = con.Close() })

	// HTTPS with client certificates optional: a verified one
	// authenticates by itself.
	hr, err := tlsconf.NewReloader(tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey, ClientCA: p.CA, ClientAuth: tls.VerifyClientCertIfGiven}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: con, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(tls.NewListener(ln, hr.ServerConfig())) }()
	t.Cleanup(func() { _ = hs.Close() })
	base := "https://" + ln.Addr().String()

	client := func(withCert bool) *http.Client {
		f := tlsconf.Files{CA: p.CA}
		if withCert {
			f.Cert, f.Key = p.ClientCert, p.ClientKey
		}
		tc, err := tlsconf.Client(f, "")
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 20 * time.Second}
	}
	do := func(cl *http.Client, method, path, user, pass, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	anon := client(false)

	if resp, body := do(anon, "GET", "/topics", "", "", ""); resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") || !strings.Contains(body, `"error_code":401`) {
		t.Fatalf("no credentials: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	if resp, _ := do(anon, "GET", "/topics", "bob", "wrong", ""); resp.StatusCode != 401 {
		t.Fatalf("bad password: %d", resp.StatusCode)
	}
	if resp, _ := do(anon, "GET", "/healthz", "", "", ""); resp.StatusCode != 200 {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
	if resp, body := do(anon, "POST", "/topics/orders/records", "bob", "bob-pw", `{"value":{"data":{"id":"o-1"}}}`); resp.StatusCode != 200 || !strings.Contains(body, `"error_code":200`) {
		t.Fatalf("bob produces over the console: %d %s", resp.StatusCode, body)
	}
	resp, body := do(client(true), "GET", "/topics/orders/records?from=beginning", "", "", "")
	if resp.StatusCode != 200 || !strings.Contains(body, "o-1") {
		t.Fatalf("a client certificate reads: %d %s", resp.StatusCode, body)
	}
	// A certificate from another CA does not get through the handshake.
	other := tlstest.New(t, "mallory")
	tc, _ := tlsconf.Client(tlsconf.Files{CA: p.CA, Cert: other.ClientCert, Key: other.ClientKey}, "")
	_, err = (&http.Client{Transport: &http.Transport{TLSClientConfig: tc}}).Get(base + "/topics")
	var opErr *net.OpError
	if err == nil || !(errors.As(err, &opErr) || strings.Contains(err.Error(), "tls") || strings.Contains(err.Error(), "certificate")) {
		t.Fatalf("a certificate from an unknown CA: %v", err)
	}
}

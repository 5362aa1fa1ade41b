package cli

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/heraldhq/herald/internal/tlsconf"
	"github.com/heraldhq/herald/internal/tlsconf/tlstest"
)

// newSecureKfake starts a kfake cluster with opts and returns its address.
func newSecureKfake(t *testing.T, opts ...kfake.Opt) string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// roundTripCLI creates a topic, lists it, produces two records and
// consumes them with the security flags sec.
func roundTripCLI(t *testing.T, addr string, sec ...string) {
	t.Helper()
	with := func(args ...string) []string { return append(args, sec...) }
	ok(t, addr, "", with("topic", "create", "orders")...)
	if out := ok(t, addr, "", with("topic", "list")...).out; !strings.Contains(out, "orders") {
		t.Fatalf("topic list does not show orders:\n%s", out)
	}
	ok(t, addr, "a\nb\n", with("produce", "orders")...)
	if out := ok(t, addr, "", with("consume", "orders", "--count", "2")...).out; out != "a\nb\n" {
		t.Fatalf("consume printed %q, want %q", out, "a\nb\n")
	}
}

func TestCLIOverSASL(t *testing.T) {
	addr := newSecureKfake(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "ops", "ops-secret"))
	t.Setenv("HERALD_SASL_PASSWORD", "ops-secret")
	roundTripCLI(t, addr, "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", "ops")

	t.Run("bad password", func(t *testing.T) {
		t.Setenv("HERALD_SASL_PASSWORD", "wrong")
		errOut := fails(t, addr, "", "authentication failed", "topic", "list", "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", "ops")
		if !strings.Contains(errOut, `"ops"`) || !strings.Contains(errOut, "SCRAM-SHA-512") {
			t.Fatalf("the error does not name the user and mechanism: %s", errOut)
		}
	})
	t.Run("password flag warns", func(t *testing.T) {
		t.Setenv("HERALD_SASL_PASSWORD", "")
		r := ok(t, addr, "", "topic", "list", "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", "ops", "--sasl-password", "ops-secret")
		if !strings.Contains(r.errOut, "warning: --sasl-password") {
			t.Fatalf("no warning about a password on the command line: %q", r.errOut)
		}
	})
	t.Run("no password without a terminal", func(t *testing.T) {
		t.Setenv("HERALD_SASL_PASSWORD", "")
		fails(t, addr, "", "no SASL password: set HERALD_SASL_PASSWORD", "topic", "list", "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", "ops")
	})
	t.Run("environment only", func(t *testing.T) {
		t.Setenv("HERALD_SASL_MECHANISM", "SCRAM-SHA-512")
		t.Setenv("HERALD_SASL_USERNAME", "ops")
		ok(t, addr, "", "topic", "list")
	})
	t.Run("unknown mechanism", func(t *testing.T) {
		fails(t, addr, "", `unknown mechanism "GSSAPI"`, "topic", "list", "--sasl-mechanism", "GSSAPI", "--sasl-username", "ops")
	})
}

func TestCLIOverTLS(t *testing.T) {
	p := tlstest.New(t, "ops")
	r, err := tlsconf.NewReloader(tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey, ClientCA: p.CA}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := newSecureKfake(t, kfake.TLS(r.ServerConfig()), kfake.EnableSASL(), kfake.Superuser("PLAIN", "ops", "pw"))
	t.Setenv("HERALD_SASL_PASSWORD", "pw")
	roundTripCLI(t, addr, "--tls-ca-file", p.CA, "--tls-cert-file", p.ClientCert, "--tls-key-file", p.ClientKey,
		"--sasl-mechanism", "PLAIN", "--sasl-username", "ops")

	t.Run("unknown CA", func(t *testing.T) {
		fails(t, addr, "", "TLS with the brokers at", "topic", "list", "--tls-enabled",
			"--tls-cert-file", p.ClientCert, "--tls-key-file", p.ClientKey, "--sasl-mechanism", "PLAIN", "--sasl-username", "ops")
	})
	t.Run("missing CA file", func(t *testing.T) {
		t.Setenv("HERALD_SASL_PASSWORD", "")
		fails(t, addr, "", "no such file", "topic", "list", "--tls-ca-file", p.Dir+"/nope.pem")
	})
}

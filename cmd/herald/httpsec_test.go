package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/tlsconf"
	"github.com/heraldhq/herald/internal/tlsconf/tlstest"
)

// httpsGet polls url with cl (as user, if not "") until it answers
// status with a body holding want.
func httpsGet(t *testing.T, cl *http.Client, url, user, pass string, status int, want string) {
	t.Helper()
	testenv.CheckFor(t, 30*time.Second, func() error {
		req, _ := http.NewRequest("GET", url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status || !strings.Contains(string(b), want) {
			return fmt.Errorf("GET %s as %q: %d %q", url, user, resp.StatusCode, b)
		}
		return nil
	})
}

func httpsClient(t *testing.T, f tlsconf.Files) *http.Client {
	t.Helper()
	tc, err := tlsconf.Client(f, "")
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
}

// TestRegistryCommandSecured: herald registry in front of a SASL_SSL
// cluster serves HTTPS with basic auth against the cluster's users and
// subjects authorized by topic ACLs.
func TestRegistryCommandSecured(t *testing.T) {
	p := tlstest.New(t, "ops")
	kr, err := tlsconf.NewReloader(tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(kr.ServerConfig()), kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser("SCRAM-SHA-512", "registry", "registry-pw"),
		kfake.User("SCRAM-SHA-256", "alice", "alice-pw", kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: "orders",
			Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationRead, Allow: true}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	t.Setenv("HERALD_SASL_PASSWORD", "registry-pw")
	addr := freeAddr(t)
	stop := runUntil(t, "registry", "-b", c.ListenAddrs()[0], "--listen", addr, "--log-level", "error",
		"--tls-ca-file", p.CA, "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", "registry",
		"--registry-tls-cert-file", p.ServerCert, "--registry-tls-key-file", p.ServerKey,
		"--registry-basic-auth", "--registry-acls", "--registry-super-users", "User:registry")
	defer stop()
	cl := httpsClient(t, tlsconf.Files{CA: p.CA})
	base := "https://" + addr
	httpsGet(t, cl, base+"/healthz", "", "", 200, "ok")
	httpsGet(t, cl, base+"/subjects", "", "", 401, `"error_code":401`)
	httpsGet(t, cl, base+"/subjects", "alice", "wrong", 401, `"error_code":401`)

	schema := `{"schema":"{\"type\":\"string\"}"}`
	for _, s := range []string{"orders-value", "payments-value"} {
		req, _ := http.NewRequest("POST", base+"/subjects/"+s+"/versions", strings.NewReader(schema))
		req.SetBasicAuth("registry", "registry-pw")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("register %s as the super user: %d", s, resp.StatusCode)
		}
	}
	httpsGet(t, cl, base+"/subjects", "alice", "alice-pw", 200, `["orders-value"]`)
	httpsGet(t, cl, base+"/subjects/payments-value/versions", "alice", "alice-pw", 403, `"error_code":40301`)

	// Plain HTTP to the HTTPS listener gets nowhere.
	if resp, err := http.Get("http://" + addr + "/subjects"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP was served")
		}
	}
}

// TestServeHTTPSListeners: herald serve with HTTPS on the registry and on
// the console (mutual TLS), the console reaching its registry over HTTPS.
func TestServeHTTPSListeners(t *testing.T) {
	p := tlstest.New(t, "ops")
	httpAddr, regAddr := freeAddr(t), freeAddr(t)
	stop := runUntil(t, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--log-level", "error",
		"--registry-listen", regAddr, "--registry-tls-cert-file", p.ServerCert, "--registry-tls-key-file", p.ServerKey,
		"--http-listen", httpAddr, "--http-tls-cert-file", p.ServerCert, "--http-tls-key-file", p.ServerKey,
		"--http-tls-client-ca-file", p.CA)
	defer stop()
	withCert := httpsClient(t, tlsconf.Files{CA: p.CA, Cert: p.ClientCert, Key: p.ClientKey})
	httpsGet(t, withCert, "https://"+regAddr+"/subjects", "", "", 200, "[]")
	httpsGet(t, withCert, "https://"+httpAddr+"/schemas", "", "", 200, "Global compatibility level")
	// The console requires a client certificate.
	noCert := httpsClient(t, tlsconf.Files{CA: p.CA})
	if resp, err := noCert.Get("https://" + httpAddr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("console without a client certificate: %d", resp.StatusCode)
	}
}

// TestPrintConfigOmitsPasswords: --print-config never prints a password.
func TestPrintConfigOmitsPasswords(t *testing.T) {
	for cmd, args := range map[string][]string{
		"serve":    {"--http-registry-password", "s3cret"},
		"registry": {"--sasl-password", "s3cret"},
		"console":  {"--sasl-password", "s3cret", "--registry-password", "s3cret"},
	} {
		out, errOut, code := herald(t, nil, append([]string{cmd, "--print-config"}, args...)...)
		if code != 0 || strings.Contains(out, "s3cret") || strings.Contains(out, "password:") {
			t.Fatalf("%s --print-config: exit %d %s\n%s", cmd, code, errOut, out)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/tlsconf"
	"github.com/heraldhq/herald/internal/tlsconf/tlstest"
)

func TestServeSecurityFlags(t *testing.T) {
	cmd := newServeCmd()
	args := []string{"--listeners", "PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9093",
		"--advertised-listeners", "SASL_SSL://kafka.example.com:9093", "--tls-cert-file", "c.pem", "--tls-key-file", "k.pem",
		"--tls-client-auth", "requested", "--sasl-enabled-mechanisms", "PLAIN,SCRAM-SHA-512", "--sasl-session-lifetime", "1h",
		"--sasl-bootstrap-user", "admin", "--sasl-oauthbearer-audience", "herald"}
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	fl := cmd.Flags()
	mechs, _ := fl.GetStringSlice("sasl-enabled-mechanisms")
	life, _ := fl.GetDuration("sasl-session-lifetime")
	aud, _ := fl.GetString("sasl-oauthbearer-audience")
	if !slices.Equal(mechs, []string{"PLAIN", "SCRAM-SHA-512"}) || life != time.Hour || aud != "herald" {
		t.Fatalf("mechanisms %v lifetime %v audience %q", mechs, life, aud)
	}
	if fl.Lookup("sasl-bootstrap-password") != nil {
		t.Fatal("the bootstrap password must not be a flag (it would show in ps)")
	}

	f := &serveFlags{listeners: "PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9093", advListeners: "SASL_SSL://kafka.example.com:9093"}
	f.cfg.SASL.BootstrapUser = "admin"
	env := map[string]string{"HERALD_SASL_BOOTSTRAP_PASSWORD": "s3cret"}
	if err := f.applySecurity(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	want := []server.Listener{{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Addr: "127.0.0.1:9092"},
		{Name: "SASL_SSL", Protocol: "SASL_SSL", Addr: "0.0.0.0:9093", Advertised: "kafka.example.com:9093"}}
	if !slices.Equal(f.cfg.Listeners, want) || f.cfg.SASL.BootstrapPassword != "s3cret" {
		t.Fatalf("listeners %+v password %q", f.cfg.Listeners, f.cfg.SASL.BootstrapPassword)
	}
	bad := &serveFlags{listeners: "TCP://127.0.0.1:9092"}
	if err := bad.applySecurity(func(string) (string, bool) { return "", false }); err == nil {
		t.Fatal("unknown protocol accepted")
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeSASL runs `herald serve` with a SASL_PLAINTEXT listener and
// the bootstrap user from the environment: franz-go logs in with
// SCRAM-SHA-512, and a wrong password is refused.
func TestServeSASL(t *testing.T) {
	addr := freePort(t)
	t.Setenv("HERALD_SASL_BOOTSTRAP_PASSWORD", "boot-pw")
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	var errOut bytes.Buffer
	go func() {
		exited <- run(ctx, []string{"serve", "--data-dir", t.TempDir(), "--listeners", "SASL_PLAINTEXT://" + addr,
			"--sasl-bootstrap-user", "admin", "--registry-listen", "", "--http-listen", "", "--log-level", "error"},
			strings.NewReader(""), io.Discard, &errOut)
	}()
	defer func() {
		cancel()
		if code := <-exited; code != 0 {
			t.Errorf("herald serve exited %d: %s", code, errOut.String())
		}
	}()
	login := func(pass string) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.SASL(scram.Auth{User: "admin", Pass: pass}.AsSha512Mechanism()))
		if err != nil {
			return err
		}
		defer cl.Close()
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		defer rcancel()
		_, err = cl.Request(rctx, kmsg.NewPtrMetadataRequest())
		return err
	}
	testenv.CheckFor(t, 20*time.Second, func() error { return login("boot-pw") })
	if err := login("wrong"); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestServeInternalListener: with ACLs on and only a SASL listener, the
// in-process schema registry still reads and writes its topic: it logs in
// on the internal listener as the internal super user, whose password
// exists only in the process. A schema registers and reads back.
func TestServeInternalListener(t *testing.T) {
	t.Setenv("HERALD_SASL_BOOTSTRAP_PASSWORD", "boot-pw")
	regAddr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	var errOut bytes.Buffer
	go func() {
		exited <- run(ctx, []string{"serve", "--data-dir", t.TempDir(), "--listeners", "SASL_PLAINTEXT://" + freePort(t),
			"--sasl-bootstrap-user", "admin", "--authorizer", "acl", "--super-users", "User:admin",
			"--registry-listen", regAddr, "--http-listen", "", "--log-level", "error"},
			strings.NewReader(""), io.Discard, &errOut)
	}()
	defer func() {
		cancel()
		if code := <-exited; code != 0 {
			t.Errorf("herald serve exited %d: %s", code, errOut.String())
		}
	}()
	url := "http://" + regAddr + "/subjects/orders-value/versions"
	testenv.CheckFor(t, 20*time.Second, func() error {
		resp, err := http.Post(url, "application/vnd.schemaregistry.v1+json", strings.NewReader(`{"schema":"{\"type\":\"string\"}"}`))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("register: %d %s", resp.StatusCode, b)
		}
		return nil
	})
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != "[1]" {
		t.Fatalf("versions: %d %s", resp.StatusCode, b)
	}
}

// TestSIGHUPReloadsTLS: SIGHUP makes the broker serve new certificate
// files to new connections.
func TestSIGHUPReloadsTLS(t *testing.T) {
	pki := tlstest.New(t, "alice")
	cfg := server.DefaultConfig()
	cfg.DataDir, cfg.Logger = t.TempDir(), slog.New(slog.DiscardHandler)
	cfg.Listeners = []server.Listener{{Protocol: "SSL", Addr: "127.0.0.1:0"}}
	cfg.TLS = server.TLSConfig{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, ReloadInterval: -1}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	stop := reloadOnSIGHUP(srv, cfg.Logger)
	defer stop()
	clientCfg, err := tlsconf.Client(tlsconf.Files{CA: pki.CA}, "")
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string {
		c, err := tls.Dial("tcp", srv.Addr().String(), clientCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	pki.Issue(t, "server", pkix.Name{CommonName: "localhost"}, true) // new server.pem and key
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.CheckFor(t, 10*time.Second, func() error {
		if serial() == before {
			return errors.New("still the old certificate")
		}
		return nil
	})
}

// TestServeRegistryBasicAuthUsesBrokerUsers: herald serve's registry
// checks basic auth against the broker's own SCRAM users (the bootstrap
// user here), not a SASL login it cannot make over the PLAINTEXT
// listener it uses.
func TestServeRegistryBasicAuthUsesBrokerUsers(t *testing.T) {
	t.Setenv("HERALD_SASL_BOOTSTRAP_PASSWORD", "boot-pw")
	regAddr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	var errOut bytes.Buffer
	go func() {
		exited <- run(ctx, []string{"serve", "--data-dir", t.TempDir(),
			"--listeners", "PLAINTEXT://" + freePort(t) + ",SASL_PLAINTEXT://" + freePort(t),
			"--sasl-bootstrap-user", "admin", "--registry-listen", regAddr, "--registry-basic-auth",
			"--http-listen", "", "--log-level", "error"},
			strings.NewReader(""), io.Discard, &errOut)
	}()
	defer func() {
		cancel()
		if code := <-exited; code != 0 {
			t.Errorf("herald serve exited %d: %s", code, errOut.String())
		}
	}()
	get := func(user, pass string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+regAddr+"/subjects", nil)
		if err != nil {
			return 0, err
		}
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	testenv.CheckFor(t, 20*time.Second, func() error {
		code, err := get("admin", "boot-pw")
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("GET /subjects as admin: %d", code)
		}
		return err
	})
	for _, c := range [][2]string{{"admin", "wrong"}, {"nobody", "boot-pw"}} {
		if code, err := get(c[0], c[1]); err != nil || code != http.StatusUnauthorized {
			t.Fatalf("GET /subjects as %s/%s: %d %v, want 401", c[0], c[1], code, err)
		}
	}
}

package server

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/auth/authtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/tlsconf"
	"github.com/heraldhq/herald/internal/tlsconf/tlstest"
)

// seenPrincipals records the principals requests act as.
type seenPrincipals struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (p *seenPrincipals) Authorize(rc access.Request, acts []access.Action) {
	p.mu.Lock()
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	p.seen[rc.Principal.String()] = true
	p.mu.Unlock()
	access.AllowAll{}.Authorize(rc, acts)
}

func (p *seenPrincipals) has(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[s]
}

// secure is a broker with a listener of each protocol.
type secure struct {
	srv  *Server
	cfg  Config
	pki  *tlstest.PKI
	jwt  *authtest.Signer
	seen *seenPrincipals
}

var testQuiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startSecure starts a broker with PLAINTEXT, SSL (client certificates
// requested), SASL_PLAINTEXT and SASL_SSL listeners, the bootstrap user
// admin/admin-pw, and OAUTHBEARER against a JWKS file.
func startSecure(t testing.TB, edit func(*Config)) *secure {
	t.Helper()
	s := &secure{pki: tlstest.New(t, "alice"), jwt: authtest.NewSigner(t, "k1"), seen: &seenPrincipals{}}
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Durability, cfg.Logger, cfg.Authorizer = t.TempDir(), "none", testQuiet, s.seen
	cfg.Groups.Group.InitialRebalanceDelay = 0
	cfg.Listeners = []Listener{
		{Protocol: "PLAINTEXT", Addr: "127.0.0.1:0"},
		{Protocol: "SSL", Addr: "127.0.0.1:0"},
		{Protocol: "SASL_PLAINTEXT", Addr: "127.0.0.1:0"},
		{Protocol: "SASL_SSL", Addr: "127.0.0.1:0"},
	}
	cfg.TLS = TLSConfig{CertFile: s.pki.ServerCert, KeyFile: s.pki.ServerKey, ClientCAFile: s.pki.CA, ClientAuth: "requested"}
	cfg.SASL = SASLConfig{
		BootstrapUser: "admin", BootstrapPassword: "admin-pw", FailedAuthDelay: 10 * time.Millisecond,
		OAuth: oauthConfig(s.jwt.JWKS),
	}
	if edit != nil {
		edit(&cfg)
	}
	s.cfg = cfg
	s.start(t)
	return s
}

func oauthConfig(jwks string) auth.OAuthConfig {
	return auth.OAuthConfig{JWKS: jwks, Issuer: "https://idp.test", Audience: "herald"}
}

func (s *secure) start(t testing.TB) {
	t.Helper()
	srv, err := New(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		t.Fatal(err)
	}
	s.srv = srv
	t.Cleanup(func() { srv.Close() })
}

// restart closes the server and starts it again on the same ports and
// data dir.
func (s *secure) restart(t testing.TB) {
	t.Helper()
	for i := range s.cfg.Listeners {
		s.cfg.Listeners[i].Addr = s.addr(s.cfg.Listeners[i].Protocol)
	}
	if err := s.srv.Close(); err != nil {
		t.Fatal(err)
	}
	s.start(t)
}

func (s *secure) addr(name string) string { return s.srv.ListenerAddr(name).String() }

func (s *secure) tlsConfig(t testing.TB, clientCert bool) *tls.Config {
	t.Helper()
	f := tlsconf.Files{CA: s.pki.CA}
	if clientCert {
		f.Cert, f.Key = s.pki.ClientCert, s.pki.ClientKey
	}
	cfg, err := tlsconf.Client(f, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// roundTrip produces a record through a client with opts on listener and
// reads it back; it returns the first error.
func roundTrip(t testing.TB, listener string, addr string, opts ...kgo.Opt) error {
	t.Helper()
	topic := fmt.Sprintf("sec-%s-%d", listener, time.Now().UnixNano())
	opts = append(opts, kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.ConsumeTopics(topic),
		kgo.AllowAutoTopicCreation(), kgo.RetryTimeout(5*time.Second), kgo.RequestRetries(2))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, kgo.StringRecord("hello "+listener)).FirstErr(); err != nil {
		return err
	}
	for {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return err
		}
		if recs := fs.Records(); len(recs) > 0 {
			if string(recs[0].Value) != "hello "+listener {
				return fmt.Errorf("read back %q", recs[0].Value)
			}
			return nil
		}
	}
}

// TestListenersAdvertiseThemselves: every listener answers Metadata with
// its own address, and the registry and console get the PLAINTEXT one.
func TestListenersAdvertiseThemselves(t *testing.T) {
	s := startSecure(t, nil)
	tlsCfg := s.tlsConfig(t, false)
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"PLAINTEXT", nil},
		{"SSL", []kgo.Opt{kgo.DialTLSConfig(tlsCfg)}},
		{"SASL_PLAINTEXT", []kgo.Opt{kgo.SASL(plain.Auth{User: "admin", Pass: "admin-pw"}.AsMechanism())}},
		{"SASL_SSL", []kgo.Opt{kgo.DialTLSConfig(tlsCfg), kgo.SASL(scram.Auth{User: "admin", Pass: "admin-pw"}.AsSha512Mechanism())}},
	} {
		cl, err := kgo.NewClient(append(tc.opts, kgo.SeedBrokers(s.addr(tc.name)))...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		bm, err := kadm.NewClient(cl).BrokerMetadata(ctx)
		cancel()
		cl.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, port, _ := net.SplitHostPort(s.addr(tc.name))
		if len(bm.Brokers) != 1 || strconv.Itoa(int(bm.Brokers[0].Port)) != port {
			t.Errorf("%s: metadata advertises %+v, want port %s", tc.name, bm.Brokers, port)
		}
	}
	if s.srv.PlaintextAddr().String() != s.addr("PLAINTEXT") || s.srv.Addr().String() != s.addr("PLAINTEXT") {
		t.Errorf("plaintext address %v, first %v", s.srv.PlaintextAddr(), s.srv.Addr())
	}
}

// TestTLSAndMutualTLS: SSL without a client certificate is anonymous;
// with one, the principal is User: and the certificate's subject DN.
// SASL_SSL with a client certificate takes the SASL user.
func TestTLSAndMutualTLS(t *testing.T) {
	s := startSecure(t, nil)
	if err := roundTrip(t, "tls", s.addr("SSL"), kgo.DialTLSConfig(s.tlsConfig(t, false))); err != nil {
		t.Fatal(err)
	}
	if !s.seen.has("User:ANONYMOUS") || s.seen.has("User:CN=alice,O=Herald Tests") {
		t.Fatalf("principals %v", s.seen.seen)
	}
	if err := roundTrip(t, "mtls", s.addr("SSL"), kgo.DialTLSConfig(s.tlsConfig(t, true))); err != nil {
		t.Fatal(err)
	}
	if !s.seen.has("User:CN=alice,O=Herald Tests") {
		t.Fatalf("mTLS principal not seen: %v", s.seen.seen)
	}
	if err := roundTrip(t, "sasl-ssl", s.addr("SASL_SSL"), kgo.DialTLSConfig(s.tlsConfig(t, true)),
		kgo.SASL(scram.Auth{User: "admin", Pass: "admin-pw"}.AsSha256Mechanism())); err != nil {
		t.Fatal(err)
	}
	if !s.seen.has("User:admin") {
		t.Fatalf("SASL principal not seen: %v", s.seen.seen)
	}
	// A plaintext client on the TLS port fails, and a TLS client that
	// does not trust the CA fails.
	if err := authErr(t, s.addr("SSL")); err == nil {
		t.Fatal("plaintext client served on the SSL listener")
	}
	if err := authErr(t, s.addr("SSL"), kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12})); err == nil {
		t.Fatal("client that does not trust the CA connected")
	}
}

// TestMutualTLSRequired: with client auth required, a client without a
// certificate cannot connect.
func TestMutualTLSRequired(t *testing.T) {
	s := startSecure(t, func(c *Config) { c.TLS.ClientAuth = "required" })
	if err := authErr(t, s.addr("SSL"), kgo.DialTLSConfig(s.tlsConfig(t, false))); err == nil {
		t.Fatal("client without a certificate served")
	}
	if err := roundTrip(t, "cert", s.addr("SSL"), kgo.DialTLSConfig(s.tlsConfig(t, true))); err != nil {
		t.Fatal(err)
	}
}

func isAuthFailed(err error) bool {
	return errors.Is(err, kerr.SaslAuthenticationFailed)
}

// authErr is the error a client with opts gets for one request on addr:
// a producer would retry an authentication failure until its delivery
// timeout, so a single request shows the broker's answer.
func authErr(t testing.TB, addr string, opts ...kgo.Opt) error {
	t.Helper()
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(addr), kgo.RequestRetries(0))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = cl.Request(ctx, kmsg.NewPtrMetadataRequest())
	return err
}

// TestSASLWithFranz: franz-go's PLAIN and SCRAM mechanisms over
// SASL_PLAINTEXT and SASL_SSL; bad passwords are
// SASL_AUTHENTICATION_FAILED.
func TestSASLWithFranz(t *testing.T) {
	s := startSecure(t, nil)
	mechs := func(pass string) map[string]sasl.Mechanism {
		return map[string]sasl.Mechanism{
			"plain":    plain.Auth{User: "admin", Pass: pass}.AsMechanism(),
			"scram256": scram.Auth{User: "admin", Pass: pass}.AsSha256Mechanism(),
			"scram512": scram.Auth{User: "admin", Pass: pass}.AsSha512Mechanism(),
		}
	}
	for _, listener := range []string{"SASL_PLAINTEXT", "SASL_SSL"} {
		var opts []kgo.Opt
		if listener == "SASL_SSL" {
			opts = append(opts, kgo.DialTLSConfig(s.tlsConfig(t, false)))
		}
		for name, m := range mechs("admin-pw") {
			if err := roundTrip(t, name, s.addr(listener), append(opts, kgo.SASL(m))...); err != nil {
				t.Errorf("%s %s: %v", listener, name, err)
			}
		}
		for name, m := range mechs("wrong") {
			if err := authErr(t, s.addr(listener), append(opts, kgo.SASL(m))...); !isAuthFailed(err) {
				t.Errorf("%s %s with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", listener, name, err)
			}
		}
	}
}

// TestOAuthBearerWithFranz: franz-go's OAUTHBEARER with tokens signed in
// the test: a good one authenticates as its sub; expired, wrong issuer,
// wrong audience and badly signed ones are refused.
func TestOAuthBearerWithFranz(t *testing.T) {
	s := startSecure(t, nil)
	other := authtest.NewSigner(t, "k1")
	now := time.Now()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "svc-orders", "iss": "https://idp.test", "aud": "herald", "exp": now.Add(time.Hour).Unix()}
		if edit != nil {
			edit(c)
		}
		return c
	}
	try := func(tok string) error {
		return roundTrip(t, "oauth", s.addr("SASL_SSL"), kgo.DialTLSConfig(s.tlsConfig(t, false)),
			kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()))
	}
	if err := try(s.jwt.Sign(t, claims(nil))); err != nil {
		t.Fatal(err)
	}
	if !s.seen.has("User:svc-orders") {
		t.Fatalf("principals %v", s.seen.seen)
	}
	for name, tok := range map[string]string{
		"expired":        s.jwt.Sign(t, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })),
		"wrong issuer":   s.jwt.Sign(t, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" })),
		"wrong audience": s.jwt.Sign(t, claims(func(c jwt.MapClaims) { c["aud"] = "other" })),
		"bad signature":  other.Sign(t, claims(nil)),
	} {
		err := authErr(t, s.addr("SASL_SSL"), kgo.DialTLSConfig(s.tlsConfig(t, false)), kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()))
		if !isAuthFailed(err) {
			t.Errorf("%s token: %v, want SASL_AUTHENTICATION_FAILED", name, err)
		}
	}
}

// TestScramUsersThroughKadm: users added with AlterUserScramCredentials
// authenticate at once with SCRAM and PLAIN, survive a restart, and a
// deleted one is refused.
func TestScramUsersThroughKadm(t *testing.T) {
	s := startSecure(t, nil)
	admin := func() *kadm.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr("SASL_PLAINTEXT")), kgo.SASL(scram.Auth{User: "admin", Pass: "admin-pw"}.AsSha512Mechanism()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return kadm.NewClient(cl)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := admin().AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "carol", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "carol-pw"},
		{User: "carol", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: "carol-pw"},
	})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	login := func(m sasl.Mechanism) error { return roundTrip(t, "carol", s.addr("SASL_PLAINTEXT"), kgo.SASL(m)) }
	for _, m := range []sasl.Mechanism{
		scram.Auth{User: "carol", Pass: "carol-pw"}.AsSha512Mechanism(),
		scram.Auth{User: "carol", Pass: "carol-pw"}.AsSha256Mechanism(),
		plain.Auth{User: "carol", Pass: "carol-pw"}.AsMechanism(),
	} {
		if err := login(m); err != nil {
			t.Fatalf("%s: %v", m.Name(), err)
		}
	}
	s.restart(t)
	if err := login(scram.Auth{User: "carol", Pass: "carol-pw"}.AsSha512Mechanism()); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	desc, err := admin().DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := desc["carol"]; len(c.CredInfos) != 2 || desc["admin"].User != "admin" {
		t.Fatalf("describe: %+v", desc)
	}
	del, err := admin().AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "carol", Mechanism: kadm.ScramSha512}, {User: "carol", Mechanism: kadm.ScramSha256}}, nil)
	if err == nil {
		err = del.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := authErr(t, s.addr("SASL_PLAINTEXT"), kgo.SASL(scram.Auth{User: "carol", Pass: "carol-pw"}.AsSha512Mechanism())); !isAuthFailed(err) {
		t.Fatalf("deleted user: %v", err)
	}
	if _, err := s.srv.Credentials().Verify("admin", "admin-pw"); err != nil {
		t.Fatalf("Verify for the HTTP side: %v", err)
	}
}

// servedSerial is the serial number of the certificate a listener
// serves to a new connection.
func servedSerial(t testing.TB, addr string, cfg *tls.Config) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestCertificateReload: new certificate files are served to new
// connections without a restart, through ReloadTLS (SIGHUP) and through
// the file watch; a client keeps producing across the change.
func TestCertificateReload(t *testing.T) {
	s := startSecure(t, func(c *Config) { c.TLS.ReloadInterval = 20 * time.Millisecond })
	cfg := s.tlsConfig(t, false)
	before := servedSerial(t, s.addr("SSL"), cfg)
	replace := func(name string) {
		cert, key := s.pki.Issue(t, name, pkix.Name{CommonName: "localhost"}, true)
		for src, dst := range map[string]string{cert: s.pki.ServerCert, key: s.pki.ServerKey} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst+".new", b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(dst+".new", dst); err != nil {
				t.Fatal(err)
			}
		}
	}
	replace("second")
	testenv.CheckFor(t, 10*time.Second, func() error {
		if got := servedSerial(t, s.addr("SSL"), cfg); got == before {
			return errors.New("still the first certificate")
		}
		return nil
	})
	if err := roundTrip(t, "after-watch", s.addr("SASL_SSL"), kgo.DialTLSConfig(cfg), kgo.SASL(plain.Auth{User: "admin", Pass: "admin-pw"}.AsMechanism())); err != nil {
		t.Fatal(err)
	}
	// SIGHUP's path, with the watch off.
	s2 := startSecure(t, func(c *Config) { c.TLS.ReloadInterval = -1 })
	cfg2 := s2.tlsConfig(t, false)
	first := servedSerial(t, s2.addr("SSL"), cfg2)
	s2.pki.Issue(t, "server", pkix.Name{CommonName: "localhost"}, true) // overwrites server.pem
	if changed, err := s2.srv.ReloadTLS(); err != nil || !changed {
		t.Fatalf("ReloadTLS: %v %v", changed, err)
	}
	if got := servedSerial(t, s2.addr("SSL"), cfg2); got == first {
		t.Fatal("ReloadTLS did not change the served certificate")
	}
	// Bad files keep the old certificate.
	if err := os.WriteFile(s2.pki.ServerCert, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.srv.ReloadTLS(); err == nil {
		t.Fatal("ReloadTLS accepted a bad certificate file")
	}
	if err := roundTrip(t, "kept", s2.addr("SSL"), kgo.DialTLSConfig(cfg2)); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}

func TestParseListeners(t *testing.T) {
	for _, tc := range []struct {
		in, adv string
		exp     []Listener
		expErr  bool
	}{
		{in: "PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9093", adv: "SASL_SSL://kafka.example.com:9093",
			exp: []Listener{{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Addr: "127.0.0.1:9092"},
				{Name: "SASL_SSL", Protocol: "SASL_SSL", Addr: "0.0.0.0:9093", Advertised: "kafka.example.com:9093"}}},
		{in: "INTERNAL:PLAINTEXT://127.0.0.1:9092,PLAINTEXT://:9094",
			exp: []Listener{{Name: "INTERNAL", Protocol: "PLAINTEXT", Addr: "127.0.0.1:9092"}, {Name: "PLAINTEXT", Protocol: "PLAINTEXT", Addr: ":9094"}}},
		{in: "HTTP://127.0.0.1:80", expErr: true},
		{in: "PLAINTEXT://127.0.0.1", expErr: true},
		{in: "PLAINTEXT://a:1,PLAINTEXT://b:2", expErr: true},
		{in: "PLAINTEXT://a:1", adv: "SSL://x:1", expErr: true},
		{in: "", expErr: true},
	} {
		got, err := ParseListeners(tc.in, tc.adv)
		if (err != nil) != tc.expErr || !slices.Equal(got, tc.exp) {
			t.Errorf("ParseListeners(%q, %q) = %+v, %v", tc.in, tc.adv, got, err)
		}
	}
}

// TestSecurityConfigErrors: a secured listener without what it needs
// does not start.
func TestSecurityConfigErrors(t *testing.T) {
	for name, edit := range map[string]func(*Config){
		"ssl without cert": func(c *Config) { c.TLS = TLSConfig{} },
		"unknown mech":     func(c *Config) { c.SASL.Mechanisms = []string{"GSSAPI"} },
		"oauth no jwks":    func(c *Config) { c.SASL.OAuth.JWKS = ""; c.SASL.Mechanisms = []string{"OAUTHBEARER"} },
		"bad client auth":  func(c *Config) { c.TLS.ClientAuth = "sometimes" },
		"bootstrap no pw":  func(c *Config) { c.SASL.BootstrapPassword = "" },
	} {
		pki := tlstest.New(t, "x")
		cfg := DefaultConfig()
		cfg.DataDir, cfg.Logger = t.TempDir(), testQuiet
		cfg.Listeners = []Listener{{Protocol: "SASL_SSL", Addr: "127.0.0.1:0"}}
		cfg.TLS = TLSConfig{CertFile: pki.ServerCert, KeyFile: pki.ServerKey}
		cfg.SASL = SASLConfig{BootstrapUser: "admin", BootstrapPassword: "pw"}
		edit(&cfg)
		srv, err := New(cfg)
		if err == nil {
			err = srv.Start()
			srv.Close()
		}
		if err == nil {
			t.Errorf("%s: started", name)
		}
	}
}

// TestReauthenticationWithFranz: with a session lifetime, franz-go
// re-authenticates on its own connection before the session ends
// (KIP-368): it keeps producing across several lifetimes without the
// broker closing its connection.
func TestReauthenticationWithFranz(t *testing.T) {
	const life = 1500 * time.Millisecond
	s := startSecure(t, func(c *Config) { c.SASL.SessionLifetime = life })
	h := &connHooks{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr("SASL_PLAINTEXT")), kgo.DefaultProduceTopic("reauth"), kgo.AllowAutoTopicCreation(),
		kgo.SASL(scram.Auth{User: "admin", Pass: "admin-pw"}.AsSha512Mechanism()), kgo.WithHooks(h))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	end := time.Now().Add(3*life + 500*time.Millisecond)
	n := 0
	for time.Now().Before(end) {
		if err := cl.ProduceSync(ctx, kgo.StringRecord("r")).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", n, err)
		}
		n++
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.disconnects != 0 || h.authenticates < 2*(h.connects+1) { // SCRAM: two SaslAuthenticate per authentication
		t.Fatalf("%d connections, %d SaslAuthenticate, %d disconnects over three session lifetimes: want re-authentication on live connections",
			h.connects, h.authenticates, h.disconnects)
	}
}

// connHooks counts a client's connections, disconnections and
// SaslAuthenticate requests.
type connHooks struct {
	mu                                   sync.Mutex
	connects, disconnects, authenticates int
}

func (h *connHooks) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	h.mu.Lock()
	if err == nil {
		h.connects++
	}
	h.mu.Unlock()
}

func (h *connHooks) OnBrokerDisconnect(kgo.BrokerMetadata, net.Conn) {
	h.mu.Lock()
	h.disconnects++
	h.mu.Unlock()
}

func (h *connHooks) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	h.mu.Lock()
	if key == 36 && err == nil {
		h.authenticates++
	}
	h.mu.Unlock()
}

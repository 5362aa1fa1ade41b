package kafkasec_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/tlsconf"
	"github.com/heraldhq/herald/internal/tlsconf/tlstest"
	"github.com/heraldhq/herald/kafkasec"
)

// cluster starts a kfake cluster with opts and returns its seeds.
func cluster(t *testing.T, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// metadata asks for the cluster's metadata with a client configured by
// sec: the first request after the handshakes.
func metadata(seeds []string, sec kafkasec.Config) error {
	opts, err := sec.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(seeds...), kgo.RetryTimeout(2*time.Second))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
	return err
}

// roundTrip produces one record to topic and reads it back with a client
// configured by sec.
func roundTrip(t *testing.T, seeds []string, sec kafkasec.Config, topic string) error {
	t.Helper()
	opts, err := sec.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RetryTimeout(5*time.Second))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
		return err
	}
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		return err
	}
	if n := fs.NumRecords(); n != 1 {
		t.Fatalf("read %d records, want 1", n)
	}
	return nil
}

func TestSASLMechanisms(t *testing.T) {
	seeds := cluster(t, kfake.EnableSASL(),
		kfake.Superuser(kafkasec.PLAIN, "plainy", "p-secret"),
		kfake.Superuser(kafkasec.SCRAMSHA256, "s256", "s256-secret"),
		kfake.Superuser(kafkasec.SCRAMSHA512, "s512", "s512-secret"))
	for _, tc := range []struct{ mech, user, pass string }{
		{"PLAIN", "plainy", "p-secret"},
		{"scram-sha-256", "s256", "s256-secret"},
		{"SCRAM-SHA-512", "s512", "s512-secret"},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			sec := kafkasec.Config{SASL: kafkasec.SASL{Mechanism: tc.mech, Username: tc.user, Password: tc.pass}}
			if err := roundTrip(t, seeds, sec, tc.user); err != nil {
				t.Fatalf("good credentials: %v", err)
			}
			sec.SASL.Password = "wrong"
			// Kafka answers SASL_AUTHENTICATION_FAILED; kfake closes
			// the connection instead.
			err := metadata(seeds, sec)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) && !errors.Is(err, io.EOF) {
				t.Fatalf("bad password: got %v, want SASL_AUTHENTICATION_FAILED or EOF", err)
			}
		})
	}
}

func TestTLSAndMutualTLS(t *testing.T) {
	p := tlstest.New(t, "alice")
	r, err := tlsconf.NewReloader(tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey, ClientCA: p.CA}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seeds := cluster(t, kfake.TLS(r.ServerConfig()), kfake.EnableSASL(), kfake.Superuser(kafkasec.SCRAMSHA512, "bob", "b"))
	good := kafkasec.Config{
		TLS:  kafkasec.TLS{CAFile: p.CA, CertFile: p.ClientCert, KeyFile: p.ClientKey},
		SASL: kafkasec.SASL{Mechanism: kafkasec.SCRAMSHA512, Username: "bob", Password: "b"},
	}
	if err := roundTrip(t, seeds, good, "t"); err != nil {
		t.Fatalf("SASL_SSL with a client certificate: %v", err)
	}
	noCert := good
	noCert.TLS.CertFile, noCert.TLS.KeyFile = "", ""
	if err := metadata(seeds, noCert); err == nil {
		t.Fatal("a client without a certificate got through a listener that requires one")
	}
	noCA := good
	noCA.TLS.CAFile = ""
	if err := metadata(seeds, noCA); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a broker certificate from an unknown CA: got %v, want a certificate error", err)
	}
	skip := noCA
	skip.TLS.InsecureSkipVerify = true
	if err := metadata(seeds, skip); err != nil {
		t.Fatalf("insecure-skip-verify: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   kafkasec.Config
		exp  string // substring of the error; "" for none
	}{
		{"zero", kafkasec.Config{}, ""},
		{"scram", kafkasec.Config{SASL: kafkasec.SASL{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "p"}}, ""},
		{"unknown mechanism", kafkasec.Config{SASL: kafkasec.SASL{Mechanism: "GSSAPI"}}, `unknown mechanism "GSSAPI"`},
		{"no password", kafkasec.Config{SASL: kafkasec.SASL{Mechanism: "PLAIN", Username: "u"}}, "a password is required"},
		{"credentials without mechanism", kafkasec.Config{SASL: kafkasec.SASL{Username: "u"}}, "without a mechanism"},
		{"two token sources", kafkasec.Config{SASL: kafkasec.SASL{Mechanism: "OAUTHBEARER", Token: "a", TokenFile: "f"}}, "exactly one"},
		{"cert without key", kafkasec.Config{TLS: kafkasec.TLS{CertFile: "c.pem"}}, "both its certificate and key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.Validate()
			if tc.exp == "" && err != nil || tc.exp != "" && (err == nil || !strings.Contains(err.Error(), tc.exp)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.exp)
			}
		})
	}
	if _, err := (kafkasec.Config{TLS: kafkasec.TLS{CAFile: "/nonexistent/ca.pem"}}).Opts(); err == nil {
		t.Fatal("Opts with a missing CA file succeeded")
	}
}

// TestOAuthTokenFile checks that the token file is read at each
// authentication (a rotated token is used) and sent as RFC 7628 asks.
// kfake has no OAUTHBEARER; the broker side is tested against Herald's.
func TestOAuthTokenFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "token")
	sec := kafkasec.Config{SASL: kafkasec.SASL{Mechanism: kafkasec.OAUTHBEARER, TokenFile: f}}
	if err := sec.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"first.jwt", "rotated.jwt"} {
		if err := os.WriteFile(f, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, msg, err := sec.SASLMechanism().Authenticate(context.Background(), "localhost:9092")
		if err != nil {
			t.Fatal(err)
		}
		if want := "n,,\x01auth=Bearer " + tok + "\x01\x01"; string(msg) != want {
			t.Fatalf("client-first message %q, want %q", msg, want)
		}
	}
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sec.SASLMechanism().Authenticate(context.Background(), "localhost:9092"); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty token file: %v", err)
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{
		"HERALD_TLS_CA_FILE": "ca.pem", "HERALD_TLS_SERVER_NAME": "kafka.internal",
		"HERALD_SASL_MECHANISM": "SCRAM-SHA-512", "HERALD_SASL_USERNAME": "u", "HERALD_SASL_PASSWORD": "p",
		"HERALD_TLS_ENABLED": "true",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := kafkasec.FromEnv(lookup)
	if err != nil {
		t.Fatal(err)
	}
	want := kafkasec.Config{
		TLS:  kafkasec.TLS{Enabled: true, CAFile: "ca.pem", ServerName: "kafka.internal"},
		SASL: kafkasec.SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"},
	}
	if c.TLS != want.TLS || c.SASL.Mechanism != want.SASL.Mechanism || c.SASL.Username != "u" || c.SASL.Password != "p" {
		t.Fatalf("FromEnv = %+v, want %+v", c, want)
	}
	env["HERALD_TLS_INSECURE_SKIP_VERIFY"] = "yes please"
	if _, err := kafkasec.FromEnv(lookup); err == nil || !strings.Contains(err.Error(), "HERALD_TLS_INSECURE_SKIP_VERIFY") {
		t.Fatalf("bad boolean: %v", err)
	}
}

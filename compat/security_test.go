package compat

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	kgosasl "github.com/segmentio/kafka-go/sasl"
	kgoplain "github.com/segmentio/kafka-go/sasl/plain"
	kgoscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/heraldtestutil"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/tlsconf"
	"github.com/heraldhq/herald/internal/tlsconf/tlstest"
)

// The security suite: every client connects to Herald over TLS, mutual
// TLS, SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, and
// SASL_SSL, produces a record and reads it back; and each fails with its
// authentication error on a wrong password. It runs against an
// in-process Herald only: an external cluster has its own listeners.

// secMode is one way of connecting.
type secMode struct {
	name     string
	listener string // server listener name
	tls      bool
	cert     bool   // present the client certificate (mutual TLS)
	mech     string // SASL mechanism, "" for none
}

var secModes = []secMode{
	{name: "tls", listener: "SSL", tls: true},
	{name: "mtls", listener: "SSL", tls: true, cert: true},
	{name: "plain", listener: "SASL_PLAINTEXT", mech: "PLAIN"},
	{name: "scram256", listener: "SASL_PLAINTEXT", mech: "SCRAM-SHA-256"},
	{name: "scram512", listener: "SASL_PLAINTEXT", mech: "SCRAM-SHA-512"},
	{name: "sasl_ssl", listener: "SASL_SSL", tls: true, mech: "SCRAM-SHA-512"},
}

// mtlsPrincipal is the principal the client certificate of tlstest.New(t,
// "alice") gives.
const mtlsPrincipal = "User:CN=alice,O=Herald Tests"

// secBroker is a Herald with a listener of each protocol and the user
// alice/alice-pw.
type secBroker struct {
	b    *heraldtest.Broker
	pki  *tlstest.PKI
	seen *principalLog
}

type principalLog struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (p *principalLog) Authorize(rc access.Request, acts []access.Action) {
	p.mu.Lock()
	p.seen[rc.Principal.String()] = true
	p.mu.Unlock()
	access.AllowAll{}.Authorize(rc, acts)
}

func (p *principalLog) has(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[s]
}

func startSecBroker(t testing.TB) *secBroker {
	t.Helper()
	if os.Getenv("HERALD_TEST_BROKERS") != "" || os.Getenv("HERALD_COMPAT_KFAKE") == "1" {
		t.Skip("the security suite configures Herald's listeners; it runs against the in-process Herald only")
	}
	sb := &secBroker{pki: tlstest.New(t, "alice"), seen: &principalLog{seen: map[string]bool{}}}
	sb.b = heraldtest.NewBroker(t, heraldtestutil.WithConfig(func(c *server.Config) {
		c.Listeners = []server.Listener{
			{Protocol: "PLAINTEXT", Addr: "127.0.0.1:0"},
			{Protocol: "SSL", Addr: "127.0.0.1:0"},
			{Protocol: "SASL_PLAINTEXT", Addr: "127.0.0.1:0"},
			{Protocol: "SASL_SSL", Addr: "127.0.0.1:0"},
		}
		c.TLS = server.TLSConfig{CertFile: sb.pki.ServerCert, KeyFile: sb.pki.ServerKey, ClientCAFile: sb.pki.CA, ClientAuth: "requested"}
		c.SASL = server.SASLConfig{BootstrapUser: "alice", BootstrapPassword: "alice-pw", FailedAuthDelay: 10 * time.Millisecond}
		c.Authorizer = sb.seen
	}))
	return sb
}

func (sb *secBroker) addr(m secMode) string {
	return heraldtestutil.Server(sb.b).ListenerAddr(m.listener).String()
}

func (sb *secBroker) tlsConfig(t testing.TB, m secMode) *tls.Config {
	t.Helper()
	if !m.tls {
		return nil
	}
	f := tlsconf.Files{CA: sb.pki.CA}
	if m.cert {
		f.Cert, f.Key = sb.pki.ClientCert, sb.pki.ClientKey
	}
	cfg, err := tlsconf.Client(f, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// secClient is one client library's way of using a mode.
type secClient struct {
	name string
	// roundTrip produces value to topic and reads it back.
	roundTrip func(t testing.TB, sb *secBroker, m secMode, pass, topic, value string) error
	// authFailed reports whether err is the client's authentication
	// failure.
	authFailed func(err error) bool
}

func secClients() []secClient {
	return []secClient{
		{"franz-go", franzSecRoundTrip, func(err error) bool { return errors.Is(err, kerr.SaslAuthenticationFailed) }},
		{"sarama", saramaSecRoundTrip, func(err error) bool {
			return errors.Is(err, sarama.ErrSASLAuthenticationFailed) || strings.Contains(fmt.Sprint(err), "SASL Authentication failed")
		}},
		{"kafka-go", kafkaGoSecRoundTrip, func(err error) bool { return errors.Is(err, kafka.SASLAuthenticationFailed) }},
		{"kcat", kcatSecRoundTrip, func(err error) bool {
			s := strings.ToLower(fmt.Sprint(err))
			return strings.Contains(s, "sasl authentication error: authentication failed")
		}},
	}
}

func TestSecurity(t *testing.T) {
	for _, cl := range secClients() {
		t.Run(cl.name, func(t *testing.T) {
			if cl.name == "kcat" {
				kcatPath(t)
			}
			sb := startSecBroker(t)
			for _, m := range secModes {
				t.Run(m.name, func(t *testing.T) {
					topic := topicName(t)
					if err := cl.roundTrip(t, sb, m, "alice-pw", topic, "v-"+m.name); err != nil {
						t.Fatal(err)
					}
					if m.cert && !sb.seen.has(mtlsPrincipal) {
						t.Fatalf("no request as %s: %v", mtlsPrincipal, sb.seen.seen)
					}
					if m.mech != "" && !sb.seen.has("User:alice") {
						t.Fatalf("no request as User:alice: %v", sb.seen.seen)
					}
				})
			}
			if cl.name == "franz-go" {
				// Users and listeners come back after a restart, on
				// the same ports.
				t.Run("restart", func(t *testing.T) {
					sb.b.Restart()
					m := secModes[len(secModes)-1] // SASL_SSL, SCRAM-SHA-512
					if err := cl.roundTrip(t, sb, m, "alice-pw", topicName(t), "after restart"); err != nil {
						t.Fatal(err)
					}
				})
			}
			for _, m := range secModes {
				if m.mech == "" || m.mech == "SCRAM-SHA-256" {
					continue
				}
				t.Run("bad-password/"+m.name, func(t *testing.T) {
					err := cl.roundTrip(t, sb, m, "wrong", topicName(t), "x")
					if !cl.authFailed(err) {
						t.Fatalf("wrong password: %v, want the client's authentication failure", err)
					}
				})
			}
		})
	}
}

// --- franz-go

func franzMech(m secMode, pass string) sasl.Mechanism {
	switch m.mech {
	case "PLAIN":
		return plain.Auth{User: "alice", Pass: pass}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: "alice", Pass: pass}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: "alice", Pass: pass}.AsSha512Mechanism()
	}
	return nil
}

func franzSecRoundTrip(t testing.TB, sb *secBroker, m secMode, pass, topic, value string) error {
	opts := []kgo.Opt{kgo.SeedBrokers(sb.addr(m)), kgo.DefaultProduceTopic(topic), kgo.ConsumeTopics(topic),
		kgo.AllowAutoTopicCreation(), kgo.RequestRetries(0)}
	if cfg := sb.tlsConfig(t, m); cfg != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if mech := franzMech(m, pass); mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx := testCtx(t, 20*time.Second)
	// One request first: a producer retries authentication failures
	// until its delivery timeout, a request returns the broker's answer.
	if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
		return err
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord(value)).FirstErr(); err != nil {
		return err
	}
	recs, err := pollN(ctx, cl, 1)
	if err != nil {
		return err
	}
	if string(recs[0].Value) != value {
		return fmt.Errorf("read back %q, want %q", recs[0].Value, value)
	}
	return nil
}

// --- sarama

// saramaSCRAM adapts franz-go's SCRAM client to sarama's SCRAMClient.
type saramaSCRAM struct {
	mech sasl.Mechanism
	sess sasl.Session
	init []byte
	done bool
}

func (c *saramaSCRAM) Begin(user, pass, _ string) error {
	var err error
	c.sess, c.init, err = c.mech.Authenticate(context.Background(), "")
	return err
}

func (c *saramaSCRAM) Step(challenge string) (string, error) {
	if c.init != nil {
		out := c.init
		c.init = nil
		return string(out), nil
	}
	done, out, err := c.sess.Challenge([]byte(challenge))
	c.done = done
	return string(out), err
}

func (c *saramaSCRAM) Done() bool { return c.done }

func saramaSecConfig(t testing.TB, sb *secBroker, m secMode, pass string) *sarama.Config {
	cfg := saramaConfig(codecNone)
	cfg.Metadata.Retry.Max = 1
	cfg.Net.DialTimeout = 5 * time.Second
	if tc := sb.tlsConfig(t, m); tc != nil {
		cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, tc
	}
	if m.mech != "" {
		cfg.Net.SASL.Enable, cfg.Net.SASL.User, cfg.Net.SASL.Password = true, "alice", pass
		cfg.Net.SASL.Mechanism = sarama.SASLMechanism(m.mech)
		if m.mech != "PLAIN" {
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{mech: franzMech(m, pass)} }
		}
	}
	return cfg
}

func saramaSecRoundTrip(t testing.TB, sb *secBroker, m secMode, pass, topic, value string) error {
	cfg := saramaSecConfig(t, sb, m, pass)
	client, err := sarama.NewClient([]string{sb.addr(m)}, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	prod, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return err
	}
	defer prod.Close()
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(value)}); err != nil {
		return err
	}
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return err
	}
	defer pc.Close()
	select {
	case msg := <-pc.Messages():
		if string(msg.Value) != value {
			return fmt.Errorf("read back %q, want %q", msg.Value, value)
		}
		return nil
	case err := <-pc.Errors():
		return err
	case <-time.After(15 * time.Second):
		return errors.New("sarama: no record within 15s")
	}
}

// --- kafka-go

func kafkaGoMech(t testing.TB, m secMode, pass string) kgosasl.Mechanism {
	switch m.mech {
	case "PLAIN":
		return kgoplain.Mechanism{Username: "alice", Password: pass}
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		algo := kgoscram.SHA256
		if m.mech == "SCRAM-SHA-512" {
			algo = kgoscram.SHA512
		}
		mech, err := kgoscram.Mechanism(algo, "alice", pass)
		if err != nil {
			t.Fatal(err)
		}
		return mech
	}
	return nil
}

func kafkaGoSecRoundTrip(t testing.TB, sb *secBroker, m secMode, pass, topic, value string) error {
	tc, mech := sb.tlsConfig(t, m), kafkaGoMech(t, m, pass)
	ctx := testCtx(t, 20*time.Second)
	dialer := &kafka.Dialer{Timeout: 5 * time.Second, TLS: tc, SASLMechanism: mech}
	// Dialing first surfaces an authentication failure as itself.
	conn, err := dialer.DialContext(ctx, "tcp", sb.addr(m))
	if err != nil {
		return err
	}
	conn.Close()
	tr := &kafka.Transport{TLS: tc, SASL: mech}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(sb.addr(m)), Topic: topic, Transport: tr, AllowAutoTopicCreation: true,
		RequiredAcks: kafka.RequireAll, BatchTimeout: 10 * time.Millisecond}
	defer w.Close()
	var werr error
	for range 20 { // the first write may meet the topic being created
		if werr = w.WriteMessages(ctx, kafka.Message{Value: []byte(value)}); werr == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if werr != nil {
		return werr
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{sb.addr(m)}, Topic: topic, Partition: 0, Dialer: dialer, MaxWait: 250 * time.Millisecond})
	defer r.Close()
	msg, err := r.ReadMessage(ctx)
	if err != nil {
		return err
	}
	if string(msg.Value) != value {
		return fmt.Errorf("read back %q, want %q", msg.Value, value)
	}
	return nil
}

// --- kcat (librdkafka)

func kcatSecArgs(sb *secBroker, m secMode, pass string) []string {
	proto := map[string]string{"SSL": "ssl", "SASL_PLAINTEXT": "sasl_plaintext", "SASL_SSL": "sasl_ssl"}[m.listener]
	args := []string{"-b", sb.addr(m), "-X", "security.protocol=" + proto}
	if m.tls {
		args = append(args, "-X", "ssl.ca.location="+sb.pki.CA)
	}
	if m.cert {
		args = append(args, "-X", "ssl.certificate.location="+sb.pki.ClientCert, "-X", "ssl.key.location="+sb.pki.ClientKey)
	}
	if m.mech != "" {
		args = append(args, "-X", "sasl.mechanisms="+m.mech, "-X", "sasl.username=alice", "-X", "sasl.password="+pass)
	}
	return args
}

func kcatSecRun(ctx context.Context, t testing.TB, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, kcatPath(t), args...)
	cmd.WaitDelay = time.Second
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err == nil && (strings.Contains(errb.String(), "Delivery failed") || strings.Contains(errb.String(), "Authentication failed")) {
		err = errors.New("kcat reported a failure")
	}
	if err != nil {
		return out.String(), fmt.Errorf("kcat %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func kcatSecRoundTrip(t testing.TB, sb *secBroker, m secMode, pass, topic, value string) error {
	ctx := testCtx(t, 30*time.Second)
	base := kcatSecArgs(sb, m, pass)
	if _, err := kcatSecRun(ctx, t, "", append(base, "-m", "2", "-L")...); err != nil {
		return err
	}
	if _, err := kcatSecRun(ctx, t, value+"\n", append(base, "-P", "-t", topic, "-p", "0")...); err != nil {
		return err
	}
	out, err := kcatSecRun(ctx, t, "", append(base, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-c", "1", "-e", "-f", "%s")...)
	if err != nil {
		return err
	}
	if out != value {
		return fmt.Errorf("read back %q, want %q", out, value)
	}
	return nil
}

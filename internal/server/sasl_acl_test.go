package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestSASLPrincipalsMeetACLs: authentication and authorization together,
// end to end. On a SASL_PLAINTEXT listener with the ACL authorizer, the
// bootstrap user (a super user) creates user alice over KIP-554 and
// grants her WRITE on topic "orders"; alice, logged in with SCRAM, may
// produce there, is refused TOPIC_AUTHORIZATION_FAILED on "secret", and
// does not see "secret" in Metadata. An anonymous client on the same
// broker's PLAINTEXT listener is User:ANONYMOUS and may do nothing.
func TestSASLPrincipalsMeetACLs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Listeners = []Listener{{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Addr: "127.0.0.1:0"},
		{Name: "SASL_PLAINTEXT", Protocol: "SASL_PLAINTEXT", Addr: "127.0.0.1:0"}}
	cfg.SASL.BootstrapUser, cfg.SASL.BootstrapPassword = "admin", "admin-pw"
	cfg.AuthorizerKind, cfg.SuperUsers = "acl", "User:admin"
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	saslAddr := srv.ListenerAddr("SASL_PLAINTEXT").String()
	client := func(user, pass string, opts ...kgo.Opt) *kgo.Client {
		t.Helper()
		opts = append(opts, kgo.SeedBrokers(saslAddr), kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	adm := kadm.NewClient(client("admin", "admin-pw"))
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "orders", "secret"); err != nil {
		t.Fatalf("super user creates topics: %v", err)
	}
	if res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "alice-pw"}}); err != nil || res.Error() != nil {
		t.Fatalf("create alice: %v %v", err, res.Error())
	}
	acl := kadm.NewACLs().Allow("User:alice").Topics("orders").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral)
	if res, err := adm.CreateACLs(ctx, acl); err != nil || res[0].Err != nil {
		t.Fatalf("grant alice WRITE on orders: %v %v", err, res)
	}

	alice := client("alice", "alice-pw", kgo.RecordRetries(1), kgo.UnknownTopicRetries(1))
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("o-1")}).FirstErr(); err != nil {
		t.Fatalf("alice produces to orders: %v", err)
	}
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "secret", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produces to secret: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	md, err := kadm.NewClient(alice).Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := md.Topics.Names(); !slices.Contains(names, "orders") || slices.Contains(names, "secret") {
		t.Fatalf("alice's metadata lists %v: want orders, not secret", names)
	}

	anon, err := kgo.NewClient(kgo.SeedBrokers(srv.ListenerAddr("PLAINTEXT").String()), kgo.RecordRetries(1), kgo.UnknownTopicRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if err := anon.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("anonymous produce to orders: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}

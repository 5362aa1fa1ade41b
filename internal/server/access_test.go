package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/access"
)

// describeOnly allows DESCRIBE and nothing else.
type describeOnly struct{}

func (describeOnly) Authorize(_ access.Request, acts []access.Action) {
	for i := range acts {
		acts[i].Allowed = acts[i].Op == access.Describe
	}
}

// TestAuthorizerReachesTheListener: Config.Authorizer is the Kafka
// listener's: with one that allows only DESCRIBE, a franz-go admin
// client sees the cluster but may not create a topic.
func TestAuthorizerReachesTheListener(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir, cfg.ListenAddr = t.TempDir(), "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Authorizer = describeOnly{}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(srv.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	if _, err := adm.BrokerMetadata(ctx); err != nil {
		t.Fatalf("metadata with DESCRIBE allowed: %v", err)
	}
	resp, err := adm.CreateTopic(ctx, 1, 1, nil, "denied")
	if err == nil {
		err = resp.Err
	}
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("create topic without CREATE: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}

// startACL starts a server on dir with --authorizer acl and the given
// super users.
func startACL(t *testing.T, dir, supers string) (*Server, *kgo.Client) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir, cfg.ListenAddr = dir, "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.AuthorizerKind, cfg.SuperUsers = "acl", supers
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(srv.Addr().String()), kgo.RequestRetries(1), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return srv, cl
}

// TestACLAuthorizerSetting: --authorizer acl puts the ACL authorizer on
// the listener with default deny, its ACLs live in the data dir's
// metadata log, and --super-users exempts a principal. (Connections are
// User:ANONYMOUS here: SASL names principals.)
func TestACLAuthorizerSetting(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	srv, cl := startACL(t, dir, "User:ops;User:ANONYMOUS")
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "open", "closed"); err != nil {
		t.Fatal(err)
	}
	rs, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:ANONYMOUS").Topics("open").Operations(kadm.OpAll))
	if err != nil || rs[0].Err != nil {
		t.Fatalf("create ACL as a super user: %v %+v", err, rs)
	}
	srv.Close()

	srv, cl = startACL(t, dir, "User:ops")
	adm = kadm.NewClient(cl)
	defer srv.Close()
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := td.Names(); len(got) != 1 || got[0] != "open" {
		t.Errorf("after a restart without super user rights, ANONYMOUS lists %v, want [open]", got)
	}
	for topic, want := range map[string]error{"open": nil, "closed": kerr.TopicAuthorizationFailed} {
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("produce to %s: %v, want %v", topic, err, want)
		}
	}
}

func TestAuthorizerSettingsRefused(t *testing.T) {
	for _, c := range []struct {
		kind, supers string
		allow        bool
	}{
		{"ranger", "", false},
		{"", "User:a", false},
		{"none", "", true},
		{"acl", "admin", false},
	} {
		cfg := DefaultConfig()
		cfg.DataDir, cfg.AuthorizerKind, cfg.SuperUsers, cfg.AllowIfNoACL = t.TempDir(), c.kind, c.supers, c.allow
		if srv, err := New(cfg); err == nil {
			srv.Close()
			t.Errorf("%+v: New accepted it", c)
		}
	}
}

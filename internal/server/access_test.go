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

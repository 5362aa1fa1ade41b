package server

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/quota"
)

// startQuota starts a server on dir and an admin client for it.
func startQuota(t *testing.T, dir string) (*Server, *kadm.Client) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir, cfg.ListenAddr = dir, "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(srv.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return srv, kadm.NewClient(cl)
}

// TestQuotasSurviveRestart: quotas set with AlterClientQuotas are in the
// data dir's metadata log: after a restart they are described and
// enforced as before, and a removal survives too.
func TestQuotasSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	srv, adm := startQuota(t, dir)
	user, app := "alice", "app"
	rs, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: &user}, {Type: "client-id", Name: nil}},
			Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1 << 20}, {Key: "request_percentage", Value: 50}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: &app}},
			Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 4096}}},
	})
	if err != nil || rs[0].Err != nil || rs[1].Err != nil {
		t.Fatalf("alter: %v %+v", err, rs)
	}
	srv.Close()

	srv, adm = startQuota(t, dir)
	got, err := adm.DescribeClientQuotas(ctx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[1].Values) != 1 || got[1].Values[0].Value != 4096 || len(got[0].Values) != 2 {
		t.Fatalf("after a restart: %+v", got)
	}
	if l, ok := srv.quotas.Limit(quota.Fetch, "bob", app); !ok || l != 4096 {
		t.Fatalf("app's fetch quota is not enforced after a restart: %v %v", l, ok)
	}
	rs, err = adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: &app}}, Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Remove: true}}},
	})
	if err != nil || rs[0].Err != nil {
		t.Fatalf("remove: %v %+v", err, rs)
	}
	srv.Close()

	srv, adm = startQuota(t, dir)
	defer srv.Close()
	got, err = adm.DescribeClientQuotas(ctx, false, nil)
	if err != nil || len(got) != 1 || got[0].Entity.String() != "{user=alice, client-id=<default>}" {
		t.Fatalf("after removal and restart: %+v %v", got, err)
	}
}

package server

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConsumerGroupConfigs: IncrementalAlterConfigs on a GROUP resource
// sets a consumer group's heartbeat interval and session timeout; the
// KIP-848 coordinator hands the interval to the next heartbeat, another
// group keeps the default, out-of-range values are INVALID_CONFIG, and
// the configs survive a restart. DescribeConfigs shows their sources.
func TestConsumerGroupConfigs(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, adm := startQuota(t, dir)
	if r, err := adm.CreateTopic(ctx, 1, -1, nil, "t"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %+v", err, r)
	}
	cl := mustClient(t, kgo.SeedBrokers(srv.Addr().String()))
	set := func(group string, kv ...string) int16 {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
		for i := 0; i+1 < len(kv); i += 2 {
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Value = kv[i], kmsg.StringPtr(kv[i+1])
			rr.Configs = append(rr.Configs, c)
		}
		req.Resources = append(req.Resources, rr)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Resources[0].ErrorCode
	}
	if code := set("g1", "consumer.heartbeat.interval.ms", "7000", "consumer.session.timeout.ms", "50000"); code != 0 {
		t.Fatalf("set g1: error %d", code)
	}
	for _, kv := range [][]string{
		{"consumer.session.timeout.ms", "1000"},     // below group.consumer.min.session.timeout.ms
		{"consumer.heartbeat.interval.ms", "20000"}, // above the max
		{"consumer.heartbeat.interval.ms", "ten"},   // not a number
		{"consumer.no.such.config", "1"},            // unknown
	} {
		if code := set("g1", kv...); code != kerr.InvalidConfig.Code {
			t.Fatalf("set %v: error %d, want INVALID_CONFIG", kv, code)
		}
	}
	wantInterval(ctx, t, cl, "g1", 7000)
	wantInterval(ctx, t, cl, "g2", 5000)
	wantGroupConfig(ctx, t, cl, "g1", "consumer.heartbeat.interval.ms", "7000", kmsg.ConfigSourceGroupConfig)
	wantGroupConfig(ctx, t, cl, "g1", "consumer.session.timeout.ms", "50000", kmsg.ConfigSourceGroupConfig)
	wantGroupConfig(ctx, t, cl, "g2", "consumer.heartbeat.interval.ms", "5000", kmsg.ConfigSourceDefaultConfig)

	srv.Close()
	srv, _ = startQuota(t, dir)
	defer srv.Close()
	cl = mustClient(t, kgo.SeedBrokers(srv.Addr().String()))
	wantInterval(ctx, t, cl, "g1", 7000)
	wantGroupConfig(ctx, t, cl, "g1", "consumer.session.timeout.ms", "50000", kmsg.ConfigSourceGroupConfig)
}

// wantInterval joins group with a ConsumerGroupHeartbeat and checks the
// heartbeat interval the coordinator answers.
func wantInterval(ctx context.Context, t *testing.T, cl *kgo.Client, group string, ms int32) {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = group, "member-"+group, 0
	req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 30000, []string{"t"}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("heartbeat %s: %v %+v", group, err, resp)
	}
	if resp.HeartbeatIntervalMillis != ms {
		t.Fatalf("group %s heartbeat interval %d ms, want %d", group, resp.HeartbeatIntervalMillis, ms)
	}
}

func wantGroupConfig(ctx context.Context, t *testing.T, cl *kgo.Client, group, name, value string, src kmsg.ConfigSource) {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeGroupConfig, group, []string{name}
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Resources[0].ErrorCode != 0 || len(resp.Resources[0].Configs) != 1 {
		t.Fatalf("describe %s %s: %v %+v", group, name, err, resp)
	}
	c := resp.Resources[0].Configs[0]
	if deref(c.Value) != value || c.Source != src {
		t.Fatalf("group %s %s = %q from %v, want %q from %v", group, name, deref(c.Value), c.Source, value, src)
	}
}

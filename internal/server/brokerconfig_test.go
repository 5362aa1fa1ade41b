package server

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDynamicBrokerConfigs: kadm sets num.partitions and
// auto.create.topics.enable for the cluster default and for the node;
// new topics and Metadata's auto-creation follow at once, without a
// restart, and after a restart. DescribeConfigs reports each value's
// source and synonyms; read-only, unknown and invalid keys are refused
// with INVALID_CONFIG and change nothing.
func TestDynamicBrokerConfigs(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, adm := startQuota(t, dir) // static: num.partitions 1, auto-create on
	alterOK(t)(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
		{Name: "num.partitions", Value: kadm.StringPtr("3")},
		{Name: "auto.create.topics.enable", Value: kadm.StringPtr("false")},
	}))
	wantPartitions(ctx, t, adm, "by-default", 3)
	wantNoAutoCreate(ctx, t, srv, adm, "auto-off")
	alterOK(t)(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: kadm.StringPtr("5")}}, 0))
	wantPartitions(ctx, t, adm, "by-node", 5)
	wantSource(ctx, t, adm, "num.partitions", "5", kmsg.ConfigSourceDynamicBrokerConfig,
		"5", kmsg.ConfigSourceDynamicBrokerConfig, "3", kmsg.ConfigSourceDynamicDefaultBrokerConfig, "1", kmsg.ConfigSourceStaticBrokerConfig)

	for _, c := range []struct {
		name, value string
		want        error
	}{
		{"log.dirs", "/elsewhere", kerr.InvalidConfig},
		{"no.such.config", "1", kerr.InvalidConfig},
		{"num.partitions", "0", kerr.InvalidConfig},
		{"auto.create.topics.enable", "maybe", kerr.InvalidConfig},
	} {
		rs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: c.name, Value: &c.value}}, 0)
		if err != nil || len(rs) != 1 || !errors.Is(rs[0].Err, c.want) || rs[0].ErrMessage == "" {
			t.Fatalf("set %s=%s: %v %+v, want %v with a message", c.name, c.value, err, rs, c.want)
		}
	}
	// kadm routes by broker id, so ask this broker about broker 7 directly.
	ia := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ir := kmsg.NewIncrementalAlterConfigsRequestResource()
	ir.ResourceType, ir.ResourceName = kmsg.ConfigResourceTypeBroker, "7"
	ic := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	ic.Name, ic.Value = "num.partitions", kmsg.StringPtr("2")
	ir.Configs = append(ir.Configs, ic)
	ia.Resources = append(ia.Resources, ir)
	raw, err := mustClient(t, kgo.SeedBrokers(srv.Addr().String())).Broker(0).Request(ctx, ia)
	if err != nil || raw.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("alter unknown broker 7: %v %+v, want INVALID_REQUEST", err, raw)
	}
	wantPartitions(ctx, t, adm, "after-refusals", 5)
	wantReadOnly(ctx, t, srv)
	wantTopicDefaults(ctx, t, srv, adm)

	srv.Close()
	srv, adm = startQuota(t, dir)
	defer srv.Close()
	wantPartitions(ctx, t, adm, "after-restart", 5)
	wantNoAutoCreate(ctx, t, srv, adm, "auto-off-after-restart")
	// AlterConfigs (not incremental) with no configs empties the node's
	// scope: the cluster default shows through.
	alterOK(t)(adm.AlterBrokerConfigsState(ctx, nil, 0))
	wantPartitions(ctx, t, adm, "default-again", 3)
	wantSource(ctx, t, adm, "num.partitions", "3", kmsg.ConfigSourceDynamicDefaultBrokerConfig,
		"3", kmsg.ConfigSourceDynamicDefaultBrokerConfig, "1", kmsg.ConfigSourceStaticBrokerConfig)
	// Deleting the cluster default returns to the flag.
	alterOK(t)(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "auto.create.topics.enable"}}))
	wantSource(ctx, t, adm, "auto.create.topics.enable", "true", kmsg.ConfigSourceStaticBrokerConfig,
		"true", kmsg.ConfigSourceStaticBrokerConfig)
	if code := autoCreate(ctx, t, srv, "auto-on"); code != 0 {
		t.Fatalf("auto-create back on: error %d", code)
	}
}

// alterOK returns a check that an alter succeeded for every resource.
func alterOK(t *testing.T) func(kadm.AlterConfigsResponses, error) {
	return func(rs kadm.AlterConfigsResponses, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Err != nil {
				t.Fatalf("alter %q: %v %s", r.Name, r.Err, r.ErrMessage)
			}
		}
	}
}

// wantPartitions creates topic with the default partition count.
func wantPartitions(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, n int) {
	t.Helper()
	r, err := adm.CreateTopic(ctx, -1, -1, nil, topic)
	if err != nil || r.Err != nil {
		t.Fatalf("create %s: %v %+v", topic, err, r)
	}
	if r.NumPartitions != int32(n) {
		t.Fatalf("%s has %d partitions, want %d", topic, r.NumPartitions, n)
	}
}

// autoCreate asks Metadata, allowing auto-creation, for topic and
// returns the topic's error code.
func autoCreate(ctx context.Context, t *testing.T, srv *Server, topic string) int16 {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics, req.AllowAutoTopicCreation = append(req.Topics, rt), true
	resp, err := req.RequestWith(ctx, mustClient(t, kgo.SeedBrokers(srv.Addr().String())))
	if err != nil || len(resp.Topics) != 1 {
		t.Fatalf("metadata %s: %v %+v", topic, err, resp)
	}
	return resp.Topics[0].ErrorCode
}

// wantNoAutoCreate: Metadata allowing auto-creation does not create topic.
func wantNoAutoCreate(ctx context.Context, t *testing.T, srv *Server, adm *kadm.Client, topic string) {
	t.Helper()
	if code := autoCreate(ctx, t, srv, topic); code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("metadata %s with auto-create off: error %d, want UNKNOWN_TOPIC_OR_PARTITION", topic, code)
	}
	if ts, err := adm.ListTopics(ctx); err != nil || ts.Has(topic) {
		t.Fatalf("%s was created: %v", topic, err)
	}
}

// wantSource describes node 0's config name: value, source, and the
// synonyms as value, source pairs.
func wantSource(ctx context.Context, t *testing.T, adm *kadm.Client, name, value string, src kmsg.ConfigSource, syns ...any) {
	t.Helper()
	rcs, err := adm.DescribeBrokerConfigs(ctx, 0)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe broker 0: %v %+v", err, rcs)
	}
	i := slices.IndexFunc(rcs[0].Configs, func(c kadm.Config) bool { return c.Key == name })
	if i < 0 {
		t.Fatalf("describe broker 0 has no %s", name)
	}
	c := rcs[0].Configs[i]
	var got []any
	for _, s := range c.Synonyms {
		got = append(got, deref(s.Value), s.Source)
	}
	if c.MaybeValue() != value || c.Source != src || !slices.Equal(got, syns) {
		t.Fatalf("%s = %q from %v, synonyms %v; want %q from %v, synonyms %v", name, c.MaybeValue(), c.Source, got, value, src, syns)
	}
}

// wantReadOnly: dynamic configs are not read-only, the others are.
func wantReadOnly(ctx context.Context, t *testing.T, srv *Server) {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, "0"
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, mustClient(t, kgo.SeedBrokers(srv.Addr().String())))
	if err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe: %v %+v", err, resp)
	}
	ro := map[string]bool{}
	for _, c := range resp.Resources[0].Configs {
		ro[c.Name] = c.ReadOnly
	}
	want := map[string]bool{"num.partitions": false, "auto.create.topics.enable": false, "log.dirs": true, "broker.id": true}
	for n, w := range want {
		if r, ok := ro[n]; !ok || r != w {
			t.Fatalf("%s read-only %v (listed %v), want %v", n, r, ok, w)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// wantTopicDefaults: message.max.bytes and log.retention.ms set for the
// cluster become the defaults of existing topics at once (a produce over
// the limit is refused, DescribeConfigs shows the inherited value and
// its source); a topic's own value still wins, and deleting the default
// lifts the limit.
func wantTopicDefaults(ctx context.Context, t *testing.T, srv *Server, adm *kadm.Client) {
	t.Helper()
	cl := mustClient(t, kgo.SeedBrokers(srv.Addr().String()), kgo.RecordRetries(1), kgo.ProducerBatchCompression(kgo.NoCompression()))
	big := &kgo.Record{Topic: "by-default", Value: make([]byte, 4000)}
	if err := cl.ProduceSync(ctx, big).FirstErr(); err != nil {
		t.Fatalf("produce 4000 bytes before the limit: %v", err)
	}
	alterOK(t)(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
		{Name: "message.max.bytes", Value: kadm.StringPtr("1000")},
		{Name: "log.retention.ms", Value: kadm.StringPtr("3600000")},
	}))
	if err := cl.ProduceSync(ctx, big).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("produce 4000 bytes with message.max.bytes 1000: %v, want MESSAGE_TOO_LARGE", err)
	}
	alterOK(t)(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr("100000")}}, "by-node"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "by-node", Value: make([]byte, 4000)}).FirstErr(); err != nil {
		t.Fatalf("produce to a topic with its own max.message.bytes: %v", err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "by-default")
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe topic: %v %+v", err, rcs)
	}
	for name, want := range map[string]string{"retention.ms": "3600000", "max.message.bytes": "1000"} {
		c, err := rcs.On("by-default", nil)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(c.Configs, func(c kadm.Config) bool { return c.Key == name })
		if i < 0 || c.Configs[i].MaybeValue() != want || c.Configs[i].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
			t.Fatalf("topic %s: %+v, want %s from DYNAMIC_DEFAULT_BROKER_CONFIG", name, c.Configs, want)
		}
	}
	alterOK(t)(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "message.max.bytes"}}))
	if err := cl.ProduceSync(ctx, big).FirstErr(); err != nil {
		t.Fatalf("produce 4000 bytes after the limit was deleted: %v", err)
	}
}

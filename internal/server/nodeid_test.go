package server

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestNodeID: a broker started with node id 1 (what test suites and tools
// assume) names itself 1 everywhere: Metadata's brokers, controller and
// leaders, DescribeCluster, FindCoordinator; clients produce and consume
// through it, and an explicit replica assignment naming it is honoured.
func TestNodeID(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir, cfg.ListenAddr, cfg.Durability = t.TempDir(), "127.0.0.1:0", "none"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.NodeID = 1
	cfg.Groups.Group.InitialRebalanceDelay = 0
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := mustClient(t, kgo.SeedBrokers(srv.Addr().String()))
	adm := kadm.NewClient(cl)

	ct := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "assigned", -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	ct.Topics = append(ct.Topics, rt)
	ctr, err := ct.RequestWith(ctx, cl)
	if err != nil || ctr.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic with replicas [1]: %v %+v", err, ctr)
	}
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = "assigned", 2
	cpa := kmsg.NewCreatePartitionsRequestTopicAssignment()
	cpa.Replicas = []int32{1}
	cpt.Assignment = append(cpt.Assignment, cpa)
	cp.Topics = append(cp.Topics, cpt)
	cpr, err := cp.RequestWith(ctx, cl)
	if err != nil || cpr.Topics[0].ErrorCode != 0 {
		t.Fatalf("create partitions with replicas [1]: %v %+v", err, cpr)
	}

	md, err := adm.Metadata(ctx, "assigned")
	if err != nil {
		t.Fatal(err)
	}
	if ids := md.Brokers.NodeIDs(); len(ids) != 1 || ids[0] != 1 || md.Controller != 1 {
		t.Fatalf("metadata brokers %v, controller %d; want [1] and 1", ids, md.Controller)
	}
	for _, p := range md.Topics["assigned"].Partitions {
		if p.Leader != 1 || len(p.Replicas) != 1 || p.Replicas[0] != 1 {
			t.Fatalf("partition %d: leader %d, replicas %v; want 1, [1]", p.Partition, p.Leader, p.Replicas)
		}
	}
	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil || dc.ControllerID != 1 || len(dc.Brokers) != 1 || dc.Brokers[0].NodeID != 1 {
		t.Fatalf("describe cluster: %v %+v", err, dc)
	}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "g"
	if r, err := fc.RequestWith(ctx, cl); err != nil || r.NodeID != 1 {
		t.Fatalf("find coordinator: %v %+v", err, r)
	}
	if _, err := adm.DescribeBrokerConfigs(ctx, 1); err != nil {
		t.Fatalf("describe configs of broker 1: %v", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "assigned", Partition: 1, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if err := adm.CommitAllOffsets(ctx, "g", kadm.Offsets{"assigned": {1: {At: 1}}}); err != nil {
		t.Fatalf("commit through the coordinator: %v", err)
	}
}

// TestNodeIDNegative: a negative node id is refused, as Kafka's node.id.
func TestNodeIDNegative(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir, cfg.ListenAddr = t.TempDir(), "127.0.0.1:0"
	cfg.NodeID = -1
	if srv, err := New(cfg); err == nil {
		srv.Close()
		t.Fatal("node id -1 accepted")
	}
}

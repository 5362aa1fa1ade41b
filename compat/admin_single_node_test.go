package compat

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAdminElectAndReassign: the cluster-shaped admin APIs that
// kafka-leader-election.sh and kafka-reassign-partitions.sh call
// (ElectLeaders, ListPartitionReassignments, AlterPartitionReassignments)
// are answered, not a closed connection: on one node the leader is already
// the preferred one (ELECTION_NOT_NEEDED), nothing is being reassigned,
// a target of the node itself is accepted, any other broker is
// INVALID_REPLICA_ASSIGNMENT, and unknown partitions are
// UNKNOWN_TOPIC_OR_PARTITION.
func TestAdminElectAndReassign(t *testing.T) {
	tg := startBroker(t)
	if tg.external || tg.name == "kfake" {
		// An external cluster has its own leaders and replicas; kfake
		// accepts any election and reassignment without checking.
		t.Skip("single-node meanings, as Kafka gives them on one broker")
	}
	topic := topicName(t)
	createTopic(t, tg, topic, 2, nil)
	adm := newAdmin(t, tg)
	ctx := testCtx(t, 30*time.Second)

	el, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}, 1: {}, 7: {}}})
	if err != nil {
		t.Fatalf("ElectLeaders: %v", err)
	}
	for p, want := range map[int32]error{0: kerr.ElectionNotNeeded, 1: kerr.ElectionNotNeeded, 7: kerr.UnknownTopicOrPartition} {
		if got := el[topic][p].Err; !errors.Is(got, want) {
			t.Errorf("ElectLeaders %s[%d]: %v, want %v", topic, p, got, want)
		}
	}

	brokers, err := adm.ListBrokers(ctx)
	if err != nil || len(brokers) != 1 {
		t.Fatalf("ListBrokers: %v %v", brokers, err)
	}
	node := brokers[0].NodeID
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, []int32{node})
	req.Assign(topic, 1, []int32{node, node + 1})
	req.CancelAssign(topic, 0+0)
	req.Assign(topic, 9, []int32{node})
	alt, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatalf("AlterPartitionAssignments: %v", err)
	}
	if got := alt[topic][1]; !errors.Is(got.Err, kerr.InvalidReplicaAssignment) || got.ErrMessage == "" {
		t.Errorf("reassign to a broker that does not exist: %v %q, want INVALID_REPLICA_ASSIGNMENT with a message", got.Err, got.ErrMessage)
	}
	if got := alt[topic][9].Err; !errors.Is(got, kerr.UnknownTopicOrPartition) {
		t.Errorf("reassign an unknown partition: %v, want UNKNOWN_TOPIC_OR_PARTITION", got)
	}
	if got := alt[topic][0].Err; !errors.Is(got, kerr.NoReassignmentInProgress) {
		t.Errorf("cancel with nothing in progress: %v, want NO_REASSIGNMENT_IN_PROGRESS", got)
	}
	var same kadm.AlterPartitionAssignmentsReq
	same.Assign(topic, 0, []int32{node})
	if alt, err = adm.AlterPartitionAssignments(ctx, same); err != nil || alt[topic][0].Err != nil {
		t.Errorf("reassign to the node itself: %v %v, want success", err, alt[topic][0].Err)
	}
	lr, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}, 1: {}}})
	if err != nil || len(lr[topic]) != 0 {
		t.Errorf("ListPartitionReassignments: %v %v, want none in progress", lr, err)
	}
}

// TestDescribeProducers: DescribeProducers (kafka-transactions.sh
// describe-producers, kadm) lists the idempotent and transactional
// producers of a partition with their epoch, last sequence and open
// transaction.
func TestDescribeProducers(t *testing.T) {
	tg := startBroker(t)
	if tg.name == "kfake" {
		t.Skip("kfake lists only transactional producers; Kafka lists idempotent ones too")
	}
	topic := topicName(t)
	createTopic(t, tg, topic, 1, nil)
	ctx := testCtx(t, 30*time.Second)
	idem := newKgo(t, tg, kgo.DefaultProduceTopic(topic))
	for i := range 3 {
		if err := idem.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	txid := topicName(t, "txn")
	tx := newKgo(t, tg, kgo.DefaultProduceTopic(topic), kgo.TransactionalID(txid))
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tx.ProduceSync(ctx, &kgo.Record{Value: []byte("t")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := newAdmin(t, tg)
	got, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("DescribeProducers: %v", err)
	}
	part := got[topic].Partitions[0]
	if part.Err != nil {
		t.Fatalf("DescribeProducers %s[0]: %v", topic, part.Err)
	}
	if len(part.ActiveProducers) != 2 {
		t.Fatalf("%d active producers, want 2 (one idempotent, one transactional): %+v", len(part.ActiveProducers), part.ActiveProducers)
	}
	var sawIdem, sawTxn bool
	for _, p := range part.ActiveProducers {
		switch {
		case p.LastSequence == 2 && p.CurrentTxnStartOffset == -1:
			sawIdem = true
		case p.LastSequence == 0 && p.CurrentTxnStartOffset == 3:
			sawTxn = true
		}
		if p.LastTimestamp <= 0 {
			t.Errorf("producer %d: last timestamp %d", p.ProducerID, p.LastTimestamp)
		}
	}
	if !sawIdem || !sawTxn {
		t.Fatalf("want an idempotent producer at sequence 2 and a transaction open at offset 3: %+v", part.ActiveProducers)
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// Raw and to the broker itself: kadm and the client map partitions
	// through metadata first and stop at an unknown one.
	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{5}
	req.Topics = append(req.Topics, rt)
	brokers := idem.DiscoveredBrokers()
	if len(brokers) == 0 {
		t.Fatal("no broker discovered")
	}
	raw, err := brokers[0].Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := raw.(*kmsg.DescribeProducersResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown partition: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(code))
	}
}

// TestDescribeTopicPartitions (KIP-966, what Kafka 3.8+ admin clients use
// instead of Metadata to describe topics): every partition with its
// leader, replicas and ISR, in pages of ResponsePartitionLimit partitions
// continued by the cursor, and UNKNOWN_TOPIC_OR_PARTITION for a topic that
// does not exist.
func TestDescribeTopicPartitions(t *testing.T) {
	tg := startBroker(t)
	a, b := topicName(t, "a"), topicName(t, "b")
	createTopic(t, tg, a, 3, nil)
	createTopic(t, tg, b, 2, nil)
	cl := newKgo(t, tg)
	ctx := testCtx(t, 30*time.Second)
	missing := topicName(t, "missing")
	type seen struct {
		topic string
		part  int32
	}
	var got []seen
	var cursor *kmsg.DescribeTopicPartitionsRequestCursor
	unknown := false
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("cursor does not end")
		}
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		for _, n := range []string{b, a, missing} {
			rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
			rt.Topic = n
			req.Topics = append(req.Topics, rt)
		}
		req.ResponsePartitionLimit, req.Cursor = 2, cursor
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("DescribeTopicPartitions: %v", err)
		}
		n := 0
		for _, rt := range resp.Topics {
			if *rt.Topic == missing {
				unknown = rt.ErrorCode == kerr.UnknownTopicOrPartition.Code
				continue
			}
			if rt.ErrorCode != 0 {
				t.Fatalf("%s: %v", *rt.Topic, kerr.ErrorForCode(rt.ErrorCode))
			}
			for _, p := range rt.Partitions {
				if len(p.Replicas) != 1 || len(p.ISR) != 1 || p.LeaderID != p.Replicas[0] {
					t.Fatalf("%s[%d]: leader %d replicas %v isr %v", *rt.Topic, p.Partition, p.LeaderID, p.Replicas, p.ISR)
				}
				got = append(got, seen{*rt.Topic, p.Partition})
				n++
			}
		}
		if n > 2 {
			t.Fatalf("page of %d partitions, limit 2", n)
		}
		if resp.NextCursor == nil {
			break
		}
		cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
	want := []seen{{a, 0}, {a, 1}, {a, 2}, {b, 0}, {b, 1}}
	if len(got) != len(want) {
		t.Fatalf("described %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("described %v, want %v (name order, each partition once)", got, want)
		}
	}
	if !unknown {
		t.Fatal("a missing topic was not answered UNKNOWN_TOPIC_OR_PARTITION")
	}
}

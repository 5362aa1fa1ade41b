package kafka

import (
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/share"
)

// FuzzShareRequests feeds share-group requests, seeded with valid ones
// that name a real topic, member and acquired records, to a server with a
// share coordinator: no frame may panic a handler or hang its answer.
func FuzzShareRequests(f *testing.F) {
	var sc *share.Coordinator
	ts := startServer(f, func(cfg *Config) {
		var err error
		if sc, err = share.Open(share.Config{Broker: cfg.Broker, Logger: quiet}); err != nil {
			f.Fatal(err)
		}
		cfg.Share = sc
	})
	f.Cleanup(sc.Close)
	ts.s.maxWait = 5 * time.Millisecond
	top, err := ts.b.CreateTopic("t", 1, nil, false)
	if err != nil {
		f.Fatal(err)
	}
	batch := records.BuildBatch(records.BatchSpec{ProducerID: -1, BaseSequence: -1}, records.Record{Value: []byte("a")}, records.Record{Value: []byte("b")})
	if _, err := top.Partition(0).Write(batch); err != nil {
		f.Fatal(err)
	}
	if err := sc.AlterConfigs("g", []share.ConfigOp{{Name: share.CfgAutoOffsetReset, Value: "earliest"}}, false); err != nil {
		f.Fatal(err)
	}
	if _, err := sc.Heartbeat("g", share.Heartbeat{MemberID: "m", Topics: []string{"t"}}); err != nil {
		f.Fatal(err)
	}
	for _, req := range shareSeeds(top.ID) {
		f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)[4:])
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := newConn(ts.s, a)
	f.Fuzz(func(t *testing.T, frame []byte) {
		fuzzFrame(t, ts.s, c, frame)
	})
}

// shareSeeds are valid share requests on topic id: a heartbeat, a fetch
// opening a session, fetches and acknowledgements with acknowledgement
// batches (per offset and whole range), the offset admin APIs.
func shareSeeds(id [16]byte) []kmsg.Request {
	g, m := "g", "m"
	hb := kmsg.NewPtrShareGroupHeartbeatRequest()
	hb.GroupID, hb.MemberID, hb.SubscribedTopicNames = g, m, []string{"t"}
	open := kmsg.NewPtrShareFetchRequest()
	open.SetVersion(2)
	open.GroupID, open.MemberID, open.MaxRecords, open.MaxBytes = &g, &m, 10, 1<<20
	open.Topics = []kmsg.ShareFetchRequestTopic{{TopicID: id, Partitions: []kmsg.ShareFetchRequestTopicPartition{{Partition: 0}}}}
	next := kmsg.NewPtrShareFetchRequest()
	next.SetVersion(2)
	next.GroupID, next.MemberID, next.ShareSessionEpoch = &g, &m, 1
	next.Topics = []kmsg.ShareFetchRequestTopic{{TopicID: id, Partitions: []kmsg.ShareFetchRequestTopicPartition{{Partition: 0,
		AcknowledgementBatches: []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{{FirstOffset: 0, LastOffset: 1, AcknowledgeTypes: []int8{1, 2}}}}}}}
	ack := kmsg.NewPtrShareAcknowledgeRequest()
	ack.SetVersion(2)
	ack.GroupID, ack.MemberID, ack.ShareSessionEpoch = &g, &m, 2
	ack.Topics = []kmsg.ShareAcknowledgeRequestTopic{{TopicID: id, Partitions: []kmsg.ShareAcknowledgeRequestTopicPartition{{Partition: 0,
		AcknowledgementBatches: []kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch{{FirstOffset: 0, LastOffset: 1, AcknowledgeTypes: []int8{3}}}}}}}
	desc := kmsg.NewPtrShareGroupDescribeRequest()
	desc.GroupIDs = []string{g}
	alter := kmsg.NewPtrAlterShareGroupOffsetsRequest()
	alter.GroupID = g
	alter.Topics = []kmsg.AlterShareGroupOffsetsRequestTopic{{Topic: "t", Partitions: []kmsg.AlterShareGroupOffsetsRequestTopicPartition{{Partition: 0, StartOffset: 1}}}}
	offs := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	offs.Groups = []kmsg.DescribeShareGroupOffsetsRequestGroup{{GroupID: g}}
	del := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
	del.GroupID = g
	del.Topics = []kmsg.DeleteShareGroupOffsetsRequestTopic{{Topic: "t"}}
	return []kmsg.Request{hb, open, next, ack, desc, alter, offs, del}
}

package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/group"
)

// startGroupServer is startServer with a group coordinator.
func startGroupServer(t *testing.T) *testServer {
	t.Helper()
	var co *group.Coordinator
	ts := startServer(t, func(c *Config) {
		var err error
		co, err = group.OpenCoordinator(group.CoordinatorConfig{Broker: c.Broker, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		c.Groups = co
	})
	t.Cleanup(co.Close)
	return ts
}

func commitReq(grp, topic string, offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.Generation = grp, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestPipelinedOffsetCommitsInOrder pipelines commits of one partition on
// one connection: they must be applied in request order, as Kafka (which
// handles one request of a connection at a time) applies them, so the
// last one answered is the one OffsetFetch returns. sarama sends the
// commits of concurrent ConsumeClaim goroutines this way; applied out of
// order, a committed offset went back and a record was processed twice
// at a clean handover.
func TestPipelinedOffsetCommitsInOrder(t *testing.T) {
	ts := startGroupServer(t)
	c := ts.dial(t)
	createTopic(t, c, "t", 1, nil)
	const n = 100
	var reqs []*kmsg.OffsetCommitRequest
	var corrs []int32
	for i := int64(1); i <= n; i++ {
		req := commitReq("g", "t", i)
		reqs, corrs = append(reqs, req), append(corrs, c.send(req))
	}
	// An OffsetFetch pipelined behind them sees them all.
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 7
	fetch.Group = "g"
	fetch.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	fcorr := c.send(fetch)
	for i, req := range reqs {
		resp := c.recv(req, corrs[i]).(*kmsg.OffsetCommitResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("commit %d: error %d", i+1, code)
		}
	}
	resp := c.recv(fetch, fcorr).(*kmsg.OffsetFetchResponse)
	if got := resp.Topics[0].Partitions[0].Offset; got != n {
		t.Fatalf("pipelined OffsetFetch: committed offset %d after pipelined commits 1..%d, want %d", got, n, n)
	}
	resp = c.roundTrip(fetch).(*kmsg.OffsetFetchResponse)
	if got := resp.Topics[0].Partitions[0].Offset; got != n {
		t.Fatalf("committed offset %d after pipelined commits 1..%d, want %d", got, n, n)
	}
}

// TestMetadataInternalTopics checks that Metadata marks __consumer_offsets
// internal, as Kafka does (clients hide it, and consumers with a regex
// subscription skip it), and user topics not.
func TestMetadataInternalTopics(t *testing.T) {
	ts := startGroupServer(t)
	c := ts.dial(t)
	createTopic(t, c, "user", 1, nil)
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	resp := c.roundTrip(req).(*kmsg.MetadataResponse)
	got := map[string]bool{}
	for _, mt := range resp.Topics {
		got[*mt.Topic] = mt.IsInternal
	}
	if internal, ok := got["__consumer_offsets"]; !ok || !internal {
		t.Errorf("__consumer_offsets: listed %v, internal %v; want an internal topic", ok, internal)
	}
	if got["user"] {
		t.Errorf("user topic marked internal")
	}
}

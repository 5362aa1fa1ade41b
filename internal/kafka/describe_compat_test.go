package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// joinClassic makes grp a classic group with one member (JoinGroup v3
// needs no member-id round trip).
func joinClassic(t *testing.T, c *client, grp string) {
	t.Helper()
	req := kmsg.NewPtrJoinGroupRequest()
	req.SetVersion(3)
	req.Group, req.ProtocolType = grp, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 30000, 30000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	req.Protocols = append(req.Protocols, p)
	if resp := c.roundTrip(req).(*kmsg.JoinGroupResponse); resp.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
}

// TestConsumerGroupDescribeClassicGroup: ConsumerGroupDescribe of a
// classic group answers GROUP_ID_NOT_FOUND, as Kafka does; that is what
// makes admin clients fall back to DescribeGroups.
func TestConsumerGroupDescribeClassicGroup(t *testing.T) {
	ts := startGroupServer(t)
	c := ts.dial(t)
	joinClassic(t, c, "classic")
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{"classic", "nosuch"}
	resp := c.roundTrip(req).(*kmsg.ConsumerGroupDescribeResponse)
	if len(resp.Groups) != 2 {
		t.Fatalf("%d groups answered, want 2", len(resp.Groups))
	}
	for _, g := range resp.Groups {
		if g.ErrorCode != kerr.GroupIDNotFound.Code {
			t.Errorf("group %s: error %v, want GROUP_ID_NOT_FOUND", g.Group, kerr.ErrorForCode(g.ErrorCode))
		}
	}
}

// Kafka's bit sets of "every operation" (bit n is AclOperation n) that a
// broker without an authorizer answers when asked for authorized
// operations: a topic's READ WRITE CREATE DELETE ALTER DESCRIBE
// DESCRIBE_CONFIGS ALTER_CONFIGS; a group's READ DELETE DESCRIBE; the
// cluster's CREATE ALTER DESCRIBE CLUSTER_ACTION DESCRIBE_CONFIGS
// ALTER_CONFIGS IDEMPOTENT_WRITE.
const (
	wantTopicOps   = 3576
	wantGroupOps   = 328
	wantClusterOps = 8096
	opsOmitted     = -2147483648
)

// TestAuthorizedOperations: Metadata, DescribeCluster, DescribeGroups and
// ConsumerGroupDescribe answer the operations when asked, and the "not
// asked" marker when not.
func TestAuthorizedOperations(t *testing.T) {
	ts := startGroupServer(t)
	if _, err := ts.b.CreateTopic("ops", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t)
	joinClassic(t, c, "opsgroup")
	for _, include := range []bool{true, false} {
		topicOps, groupOps, clusterOps := int32(opsOmitted), int32(opsOmitted), int32(opsOmitted)
		if include {
			topicOps, groupOps, clusterOps = wantTopicOps, wantGroupOps, wantClusterOps
		}
		md := kmsg.NewPtrMetadataRequest()
		md.SetVersion(10)
		md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("ops")}}
		md.IncludeTopicAuthorizedOperations, md.IncludeClusterAuthorizedOperations = include, include
		mr := c.roundTrip(md).(*kmsg.MetadataResponse)
		if len(mr.Topics) != 1 || mr.Topics[0].AuthorizedOperations != topicOps {
			t.Errorf("include=%v: metadata topic operations %+v, want %d", include, mr.Topics, topicOps)
		}
		if mr.AuthorizedOperations != clusterOps {
			t.Errorf("include=%v: metadata cluster operations %d, want %d", include, mr.AuthorizedOperations, clusterOps)
		}

		dc := kmsg.NewPtrDescribeClusterRequest()
		dc.IncludeClusterAuthorizedOperations = include
		if got := c.roundTrip(dc).(*kmsg.DescribeClusterResponse).ClusterAuthorizedOperations; got != clusterOps {
			t.Errorf("include=%v: DescribeCluster operations %d, want %d", include, got, clusterOps)
		}

		dg := kmsg.NewPtrDescribeGroupsRequest()
		dg.SetVersion(5)
		dg.Groups, dg.IncludeAuthorizedOperations = []string{"opsgroup"}, include
		if g := c.roundTrip(dg).(*kmsg.DescribeGroupsResponse).Groups; len(g) != 1 || g[0].AuthorizedOperations != groupOps {
			t.Errorf("include=%v: DescribeGroups %+v, want operations %d", include, g, groupOps)
		}
	}
}

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

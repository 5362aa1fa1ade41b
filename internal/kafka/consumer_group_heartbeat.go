package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/group"
)

// handleConsumerGroupHeartbeat is KIP-848's one request: join, heartbeat,
// leave, and receive the server-side assignment incrementally.
func handleConsumerGroupHeartbeat(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	if s.groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	h := group.CHeartbeat{
		MemberID: req.MemberID, MemberEpoch: req.MemberEpoch,
		InstanceID: deref(req.InstanceID), RackID: deref(req.RackID),
		ClientID: r.clientID, ClientHost: hostOf(r.c.remote),
		Rebalance:  time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		Subscribed: req.SubscribedTopicNames, SubscribedRegex: req.SubscribedTopicRegex,
	}
	if req.Topics != nil {
		h.Owned = []group.TopicPartitions{}
		for _, t := range req.Topics {
			h.Owned = append(h.Owned, group.TopicPartitions{TopicID: t.TopicID, Partitions: t.Partitions})
		}
	}
	groupID := req.Group
	// A heartbeat that gives partitions back must not overtake the
	// commits the member sent before it: the next owner reads them.
	r.afterCommits(func() kmsg.Response {
		res := s.groups.ConsumerHeartbeat(groupID, h)
		resp.ErrorCode = errCode(res.Err)
		if res.Err != nil {
			return resp
		}
		resp.MemberID = kmsg.StringPtr(res.MemberID)
		resp.MemberEpoch = res.Epoch
		resp.HeartbeatIntervalMillis = int32(res.HeartbeatInterval.Milliseconds())
		if res.Assignment != nil {
			a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
			a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
			for _, t := range res.Assignment {
				at := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
				at.TopicID, at.Partitions = t.TopicID, t.Partitions
				a.Topics = append(a.Topics, at)
			}
			resp.Assignment = &a
		}
		return resp
	})
	return nil, nil
}

package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/group"
)

// handleConsumerGroupHeartbeat is KIP-848's one request: join, heartbeat,
// leave, and receive the server-side assignment incrementally. It needs
// READ on the group, and DESCRIBE on every topic it subscribes to by name
// (see heartbeatAccess).
func handleConsumerGroupHeartbeat(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	if denied := s.heartbeatAccess(r, req); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
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

// heartbeatAccess checks READ on the group (GROUP_AUTHORIZATION_FAILED)
// and, as Kafka, DESCRIBE on each topic the member subscribes to by name:
// a member may not subscribe to topics it cannot see
// (TOPIC_AUTHORIZATION_FAILED).
func (s *Server) heartbeatAccess(r *request, req *kmsg.ConsumerGroupHeartbeatRequest) *kerr.Error {
	if denied := s.access(r, access.Read, access.Group, req.Group); denied != nil {
		return denied
	}
	if len(req.SubscribedTopicNames) == 0 {
		return nil
	}
	for _, ok := range s.allowedNames(r, access.Describe, access.Topic, req.SubscribedTopicNames) {
		if !ok {
			return kerr.TopicAuthorizationFailed
		}
	}
	return nil
}

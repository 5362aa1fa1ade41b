package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/share"
)

// handleShareGroupHeartbeat joins, heartbeats or leaves a share group
// (KIP-932) and returns the member's assignment when it changed. It needs
// READ on the group and DESCRIBE on each subscribed topic, as Kafka.
func handleShareGroupHeartbeat(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ShareGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	if denied := s.access(r, access.Read, access.Group, req.GroupID); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
	for _, ok := range s.allowedNames(r, access.Describe, access.Topic, req.SubscribedTopicNames) {
		if !ok {
			resp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			return resp, nil
		}
	}
	if s.share == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	res, err := s.share.Heartbeat(req.GroupID, share.Heartbeat{
		MemberID: req.MemberID, Epoch: req.MemberEpoch, RackID: deref(req.RackID),
		ClientID: r.clientID, ClientHost: hostOf(r.c.remote), Topics: req.SubscribedTopicNames,
	})
	if err != nil {
		resp.ErrorCode = shareCode(err)
		return resp, nil
	}
	resp.MemberID = kmsg.StringPtr(req.MemberID)
	resp.MemberEpoch = res.Epoch
	resp.HeartbeatIntervalMillis = int32(res.Interval.Milliseconds())
	if res.Assignment != nil {
		a := kmsg.NewShareGroupHeartbeatResponseAssignment()
		a.TopicPartitions = []kmsg.ShareGroupHeartbeatResponseAssignmentTopicPartition{}
		for id, ps := range res.Assignment {
			tp := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
			tp.TopicID, tp.Partitions = id, ps
			a.TopicPartitions = append(a.TopicPartitions, tp)
		}
		resp.Assignment = &a
	}
	return resp, nil
}

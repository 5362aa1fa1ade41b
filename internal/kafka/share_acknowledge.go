package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/share"
)

// handleShareAcknowledge accepts, releases or rejects acquired records
// (and renews locks, KIP-1222) without fetching; the answer waits until
// the new state is durable. ShareSessionEpoch must follow the session's
// (0 is INVALID_SHARE_SESSION_EPOCH: a new session holds no records); -1
// closes the session after the acknowledgements. It needs READ on the
// group and on each topic.
func handleShareAcknowledge(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ShareAcknowledgeRequest)
	resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
	group, member := deref(req.GroupID), deref(req.MemberID)
	if denied := s.access(r, access.Read, access.Group, group); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
	if s.share == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	resp.AcquisitionLockTimeoutMillis = int32(s.share.LockDuration(group).Milliseconds())
	if req.ShareSessionEpoch == 0 {
		resp.ErrorCode = kerr.InvalidShareSessionEpoch.Code
		return resp, nil
	}
	if _, err := s.share.Session(group, member, req.ShareSessionEpoch, nil, nil); err != nil {
		resp.ErrorCode = shareCode(err)
		return resp, nil
	}
	r.later(func() kmsg.Response {
		for _, t := range req.Topics {
			ot := kmsg.NewShareAcknowledgeResponseTopic()
			ot.TopicID = t.TopicID
			for _, p := range t.Partitions {
				op := kmsg.NewShareAcknowledgeResponseTopicPartition()
				op.Partition = p.Partition
				op.CurrentLeader.LeaderID = s.cfg.NodeID
				batches := make([]share.AckBatch, 0, len(p.AcknowledgementBatches))
				for _, b := range p.AcknowledgementBatches {
					batches = append(batches, share.AckBatch{First: b.FirstOffset, Last: b.LastOffset, Types: b.AcknowledgeTypes})
				}
				op.ErrorCode = s.shareAck(r, group, member, share.TP{Topic: t.TopicID, Partition: p.Partition}, batches)
				ot.Partitions = append(ot.Partitions, op)
			}
			resp.Topics = append(resp.Topics, ot)
		}
		if req.ShareSessionEpoch == -1 {
			s.share.CloseSession(group, member)
		}
		resp.NodeEndpoints = []kmsg.ShareAcknowledgeResponseNodeEndpoint{{NodeID: s.cfg.NodeID, Host: s.cfg.AdvertisedHost, Port: s.cfg.AdvertisedPort}}
		return resp
	})
	return nil, nil
}

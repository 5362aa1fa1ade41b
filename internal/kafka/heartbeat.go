package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/group"
)

// handleHeartbeat keeps a classic member's session alive and tells it
// when a rebalance started. It waits on the group's driver, so it answers
// later.
func handleHeartbeat(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if denied := s.access(r, access.Read, access.Group, req.Group); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
	if s.groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	h := group.Heartbeat{MemberID: req.MemberID, InstanceID: deref(req.InstanceID), Generation: req.Generation}
	groupID := req.Group
	r.later(func() kmsg.Response {
		resp.ErrorCode = errCode(s.groups.Heartbeat(groupID, h))
		return resp
	})
	return nil, nil
}

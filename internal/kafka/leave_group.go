package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/group"
)

// handleLeaveGroup removes members: one (v0-2) or a batch (v3+, which may
// name static members by instance id).
func handleLeaveGroup(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if denied := s.access(r, access.Read, access.Group, req.Group); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
	if s.groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	var ls []group.Leave
	if r.version < 3 {
		ls = []group.Leave{{MemberID: req.MemberID}}
	} else {
		for _, m := range req.Members {
			ls = append(ls, group.Leave{MemberID: m.MemberID, InstanceID: deref(m.InstanceID)})
		}
	}
	groupID, version, members := req.Group, r.version, req.Members
	r.afterCommits(func() kmsg.Response {
		errs := s.groups.Leave(groupID, ls)
		if version < 3 {
			resp.ErrorCode = errCode(errs[0])
			return resp
		}
		for i, m := range members {
			rm := kmsg.NewLeaveGroupResponseMember()
			rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, errCode(errs[i])
			resp.Members = append(resp.Members, rm)
		}
		return resp
	})
	return nil, nil
}

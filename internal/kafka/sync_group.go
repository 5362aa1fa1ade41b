package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/group"
)

// handleSyncGroup delivers the leader's assignment; followers wait for it,
// so the answer completes later.
func handleSyncGroup(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	if denied := s.access(r, access.Read, access.Group, req.Group); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
	if s.groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	sy := group.Sync{
		MemberID: req.MemberID, InstanceID: deref(req.InstanceID), Generation: req.Generation,
		ProtocolType: deref(req.ProtocolType), Protocol: deref(req.Protocol),
	}
	if len(req.GroupAssignment) > 0 {
		sy.Assignments = make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			sy.Assignments[a.MemberID] = append([]byte(nil), a.MemberAssignment...)
		}
	}
	groupID, version := req.Group, r.version
	r.afterCommits(func() kmsg.Response {
		res := s.groups.Sync(groupID, sy)
		resp.ErrorCode = errCode(res.Err)
		if res.Err == nil {
			resp.MemberAssignment = res.Assignment
			if version >= 5 {
				resp.ProtocolType, resp.Protocol = kmsg.StringPtr(res.ProtocolType), kmsg.StringPtr(res.Protocol)
			}
		}
		return resp
	})
	return nil, nil
}

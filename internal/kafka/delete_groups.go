package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDeleteGroups deletes empty groups with their offsets; a group with
// members answers NON_EMPTY_GROUP.
func handleDeleteGroups(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	groups := req.Groups
	r.later(func() kmsg.Response {
		for _, id := range groups {
			g := kmsg.NewDeleteGroupsResponseGroup()
			g.Group = id
			switch {
			case s.groups == nil:
				g.ErrorCode = kerr.CoordinatorNotAvailable.Code
			case id == "":
				g.ErrorCode = kerr.InvalidGroupID.Code
			default:
				g.ErrorCode = errCode(s.groups.Delete(id))
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	})
	return nil, nil
}

package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
)

// handleDeleteGroups deletes empty groups with their offsets; a group with
// members answers NON_EMPTY_GROUP, and one r may not DELETE
// GROUP_AUTHORIZATION_FAILED.
func handleDeleteGroups(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	groups := req.Groups
	r.later(func() kmsg.Response {
		for _, id := range groups {
			g := kmsg.NewDeleteGroupsResponseGroup()
			g.Group = id
			denied := s.access(r, access.Delete, access.Group, id)
			switch {
			case denied != nil:
				g.ErrorCode = denied.Code
			case s.groups == nil:
				g.ErrorCode = kerr.CoordinatorNotAvailable.Code
			case id == "":
				g.ErrorCode = kerr.InvalidGroupID.Code
			case s.share != nil && s.share.Has(id):
				g.ErrorCode = shareCode(s.share.DeleteGroup(id))
			default:
				g.ErrorCode = errCode(s.groups.Delete(id))
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	})
	return nil, nil
}

package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
)

// handleDescribeGroups describes classic groups: state, protocol and each
// member's metadata and assignment. A group that does not exist is Dead,
// with no error, as Kafka answers. A group r may not DESCRIBE answers
// GROUP_AUTHORIZATION_FAILED.
func handleDescribeGroups(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	groups, include := req.Groups, req.IncludeAuthorizedOperations
	r.later(func() kmsg.Response {
		for _, id := range groups {
			g := kmsg.NewDescribeGroupsResponseGroup()
			g.Group = id
			if denied := s.access(r, access.Describe, access.Group, id); denied != nil {
				g.ErrorCode = denied.Code
				resp.Groups = append(resp.Groups, g)
				continue
			}
			g.AuthorizedOperations = s.authorizedOps(r, include, access.Group, id)
			if s.groups == nil {
				g.ErrorCode = kerr.CoordinatorNotAvailable.Code
				resp.Groups = append(resp.Groups, g)
				continue
			}
			d, _ := s.groups.Describe(id)
			g.State, g.ProtocolType, g.Protocol = d.State.String(), d.ProtocolType, d.Protocol
			for _, m := range d.Members {
				rm := kmsg.NewDescribeGroupsResponseGroupMember()
				rm.MemberID, rm.ClientID, rm.ClientHost = m.ID, m.ClientID, m.ClientHost
				rm.ProtocolMetadata, rm.MemberAssignment = m.Metadata, m.Assignment
				if m.InstanceID != "" {
					rm.InstanceID = kmsg.StringPtr(m.InstanceID)
				}
				g.Members = append(g.Members, rm)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	})
	return nil, nil
}

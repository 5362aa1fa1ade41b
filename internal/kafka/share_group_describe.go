package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/group"
	"github.com/heraldhq/herald/internal/share"
)

// handleShareGroupDescribe describes share groups: members, their
// subscriptions and assignments. It needs DESCRIBE on each group; a group
// that is not a share group answers GROUP_ID_NOT_FOUND.
func handleShareGroupDescribe(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ShareGroupDescribeRequest)
	resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	for _, id := range req.GroupIDs {
		g := kmsg.NewShareGroupDescribeResponseGroup()
		g.GroupID = id
		if denied := s.access(r, access.Describe, access.Group, id); denied != nil {
			g.ErrorCode = denied.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		if s.share == nil {
			g.ErrorCode = shareCode(share.ErrCoordinatorClosed)
			resp.Groups = append(resp.Groups, g)
			continue
		}
		d, err := s.share.Describe(id)
		if err != nil {
			g.ErrorCode = shareCode(err)
			resp.Groups = append(resp.Groups, g)
			continue
		}
		g.GroupState, g.GroupEpoch, g.AssignmentEpoch, g.Assignor = d.State, d.Epoch, d.Epoch, "simple"
		g.AuthorizedOperations = s.authorizedOps(r, req.IncludeAuthorizedOperations, access.Group, id)
		for _, m := range d.Members {
			g.Members = append(g.Members, s.describedShareMember(m))
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}

func (s *Server) describedShareMember(m share.MemberDescription) kmsg.ShareGroupDescribeResponseGroupMember {
	dm := kmsg.NewShareGroupDescribeResponseGroupMember()
	dm.MemberID, dm.MemberEpoch, dm.ClientID, dm.ClientHost = m.ID, m.Epoch, m.ClientID, m.ClientHost
	if m.RackID != "" {
		dm.RackID = kmsg.StringPtr(m.RackID)
	}
	dm.SubscribedTopicNames = m.Topics
	for id, ps := range m.Assignment {
		tp := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
		tp.TopicID, tp.Partitions = id, ps
		if t := s.b.TopicByID(id); t != nil {
			tp.Topic = t.Name
		}
		dm.Assignment.TopicPartitions = append(dm.Assignment.TopicPartitions, tp)
	}
	return dm
}

// shareListings lists the share groups for ListGroups: type "share",
// protocol type "share", state Empty or Stable.
func (s *Server) shareListings() []group.Listing {
	if s.share == nil {
		return nil
	}
	var out []group.Listing
	for _, id := range s.share.GroupIDs() {
		state := "Empty"
		if s.share.Members(id) > 0 {
			state = "Stable"
		}
		out = append(out, group.Listing{ID: id, ProtocolType: "share", State: state, Type: "share"})
	}
	return out
}

package kafka

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/group"
)

// handleListGroups lists every group, filtered by state (v4+) and type
// (v5+), compared case-insensitively as Kafka does. Only the groups r
// may DESCRIBE are listed (all of them with DESCRIBE on the cluster); the
// request itself never fails authorization, as in Kafka.
func handleListGroups(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if s.groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	states, types := req.StatesFilter, req.TypesFilter
	r.later(func() kmsg.Response {
		var list []group.Listing
		for _, l := range append(s.groups.List(), s.shareListings()...) {
			if matchesFold(states, l.State) && matchesFold(types, l.Type) {
				list = append(list, l)
			}
		}
		for _, l := range s.describableGroups(r, list) {
			g := kmsg.NewListGroupsResponseGroup()
			g.Group, g.ProtocolType, g.GroupState, g.GroupType = l.ID, l.ProtocolType, l.State, l.Type
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	})
	return nil, nil
}

// describableGroups is the groups of list that r may DESCRIBE: all with
// DESCRIBE on the cluster, else those it may DESCRIBE one by one.
func (s *Server) describableGroups(r *request, list []group.Listing) []group.Listing {
	if len(list) == 0 || s.allowed(r, access.Describe, access.Cluster, access.ClusterName) {
		return list
	}
	ids := make([]string, len(list))
	for i, l := range list {
		ids[i] = l.ID
	}
	ok := s.allowedNames(r, access.Describe, access.Group, ids)
	out := list[:0]
	for i, l := range list {
		if ok[i] {
			out = append(out, l)
		}
	}
	return out
}

// matchesFold reports whether v is in filter, ignoring case; an empty
// filter matches everything.
func matchesFold(filter []string, v string) bool {
	return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
}

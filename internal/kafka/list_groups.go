package kafka

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleListGroups lists every group, filtered by state (v4+) and type
// (v5+), compared case-insensitively as Kafka does.
func handleListGroups(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if s.groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	states, types := req.StatesFilter, req.TypesFilter
	r.later(func() kmsg.Response {
		for _, l := range s.groups.List() {
			if !matchesFold(states, l.State) || !matchesFold(types, l.Type) {
				continue
			}
			g := kmsg.NewListGroupsResponseGroup()
			g.Group, g.ProtocolType, g.GroupState, g.GroupType = l.ID, l.ProtocolType, l.State, l.Type
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	})
	return nil, nil
}

// matchesFold reports whether v is in filter, ignoring case; an empty
// filter matches everything.
func matchesFold(filter []string, v string) bool {
	return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
}

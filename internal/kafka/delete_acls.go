package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/acl"
)

// handleDeleteAcls removes every binding one of the filters matches
// (v0-v3; v0 filters are LITERAL) and answers, per filter, the bindings
// it matched. It needs ALTER on the cluster (else every result is
// CLUSTER_AUTHORIZATION_FAILED), answers SECURITY_DISABLED without the
// ACL authorizer, and INVALID_REQUEST for a filter with UNKNOWN parts
// (the other filters still apply). The removal is durable before the
// answer and applies to the next request.
func handleDeleteAcls(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	filters := req.Filters
	v0 := r.version == 0
	r.later(func() kmsg.Response {
		resp.Results = make([]kmsg.DeleteACLsResponseResult, len(filters))
		if err := s.aclAdminCheck(r, access.Alter); err != nil {
			for i := range resp.Results {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = err.Code, kmsg.StringPtr(err.Message)
			}
			return resp
		}
		var valid []acl.Filter
		var at []int // at[j] is valid[j]'s index in filters
		for i, kf := range filters {
			f := deleteFilter(kf, v0)
			if err := f.Validate(); err != nil {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
				continue
			}
			valid, at = append(valid, f), append(at, i)
		}
		matched, err := s.cfg.ACL.Delete(valid)
		for j, i := range at {
			if err != nil {
				s.logger.Error("delete acls", "err", err)
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.KafkaStorageError.Code, kmsg.StringPtr(err.Error())
				continue
			}
			resp.Results[i].MatchingACLs = matchingACLs(matched[j])
		}
		return resp
	})
	return nil, nil
}

func deleteFilter(kf kmsg.DeleteACLsRequestFilter, v0 bool) acl.Filter {
	f := acl.Filter{
		Principal: kf.Principal, Host: kf.Host, Type: kf.ResourceType, Name: kf.ResourceName,
		Pattern: kf.ResourcePatternType, Op: kf.Operation, Permission: kf.PermissionType,
	}
	if v0 {
		f.Pattern = acl.Literal
	}
	return f
}

func matchingACLs(bs []acl.Binding) []kmsg.DeleteACLsResponseResultMatchingACL {
	out := make([]kmsg.DeleteACLsResponseResultMatchingACL, len(bs))
	for i, b := range bs {
		m := kmsg.NewDeleteACLsResponseResultMatchingACL()
		m.ResourceType, m.ResourceName, m.ResourcePatternType = b.Type, b.Name, b.Pattern
		m.Principal, m.Host, m.Operation, m.PermissionType = b.Principal, b.Host, b.Op, b.Permission
		out[i] = m
	}
	return out
}

package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/acl"
)

// handleDescribeAcls lists the bindings a filter matches (v0-v3; v0 has
// no pattern type and means LITERAL), with Kafka's filter semantics (ANY,
// MATCH; see acl.Filter), grouped by resource. It needs DESCRIBE on the
// cluster (else CLUSTER_AUTHORIZATION_FAILED), answers SECURITY_DISABLED
// without the ACL authorizer, and INVALID_REQUEST for a filter with
// UNKNOWN parts.
func handleDescribeAcls(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if err := s.aclAdminCheck(r, access.Describe); err != nil {
		resp.ErrorCode, resp.ErrorMessage = err.Code, kmsg.StringPtr(err.Message)
		return resp, nil
	}
	f := acl.Filter{
		Principal: req.Principal, Host: req.Host, Type: req.ResourceType, Name: req.ResourceName,
		Pattern: req.ResourcePatternType, Op: req.Operation, Permission: req.PermissionType,
	}
	if r.version == 0 {
		f.Pattern = acl.Literal
	}
	if err := f.Validate(); err != nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		return resp, nil
	}
	resp.Resources = describedResources(s.cfg.ACL.Describe(f))
	return resp, nil
}

// describedResources groups bindings, sorted by resource, by resource.
func describedResources(bs []acl.Binding) []kmsg.DescribeACLsResponseResource {
	var out []kmsg.DescribeACLsResponseResource
	for i, b := range bs {
		if i == 0 || b.Type != bs[i-1].Type || b.Name != bs[i-1].Name || b.Pattern != bs[i-1].Pattern {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = b.Type, b.Name, b.Pattern
			out = append(out, res)
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host, a.Operation, a.PermissionType = b.Principal, b.Host, b.Op, b.Permission
		last := &out[len(out)-1]
		last.ACLs = append(last.ACLs, a)
	}
	return out
}

package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/acl"
)

// handleCreateAcls adds ACL bindings (v0-v3; v0 has no pattern type and
// means LITERAL). As in Kafka it needs ALTER on the cluster (else every
// result is CLUSTER_AUTHORIZATION_FAILED), answers SECURITY_DISABLED
// without the ACL authorizer, and answers each creation on its own: an
// invalid one INVALID_REQUEST with the reason, the valid ones are made
// durable together (KAFKA_STORAGE_ERROR for all of them when the
// metadata log fails) and apply to the next request.
func handleCreateAcls(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	creations := req.Creations
	v0 := r.version == 0
	r.later(func() kmsg.Response {
		resp.Results = make([]kmsg.CreateACLsResponseResult, len(creations))
		if err := s.aclAdminCheck(r, access.Alter); err != nil {
			for i := range resp.Results {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = err.Code, kmsg.StringPtr(err.Message)
			}
			return resp
		}
		var valid []acl.Binding
		var at []int // at[j] is valid[j]'s index in creations
		for i, c := range creations {
			b := creationBinding(c, v0)
			if err := b.Validate(); err != nil {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
				continue
			}
			valid, at = append(valid, b), append(at, i)
		}
		if err := s.cfg.ACL.Create(valid); err != nil {
			code := kerr.KafkaStorageError.Code
			if errors.Is(err, acl.ErrInvalid) {
				code = kerr.InvalidRequest.Code
			}
			s.logger.Error("create acls", "err", err)
			for _, i := range at {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, kmsg.StringPtr(err.Error())
			}
		}
		return resp
	})
	return nil, nil
}

func creationBinding(c kmsg.CreateACLsRequestCreation, v0 bool) acl.Binding {
	b := acl.Binding{
		Principal: c.Principal, Host: c.Host, Type: c.ResourceType, Name: c.ResourceName,
		Pattern: c.ResourcePatternType, Op: c.Operation, Permission: c.PermissionType,
	}
	if v0 {
		b.Pattern = acl.Literal
	}
	return b
}

// aclAdminCheck is what the ACL APIs ask first, in Kafka's order: op on
// the cluster, then whether there is an ACL authorizer at all.
func (s *Server) aclAdminCheck(r *request, op access.Operation) *kerr.Error {
	if err := s.accessCluster(r, op); err != nil {
		return err
	}
	if s.cfg.ACL == nil {
		return kerr.SecurityDisabled
	}
	return nil
}

package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/auth"
)

// handleDescribeUserScramCredentials (key 50, KIP-554) lists users'
// SCRAM mechanisms and iterations (never salts or keys): the named users,
// or every user with a credential when none is named. It needs DESCRIBE
// on the cluster (else a top-level CLUSTER_AUTHORIZATION_FAILED); a user
// without credentials is RESOURCE_NOT_FOUND and one named twice
// DUPLICATE_RESOURCE, with Kafka's messages.
func handleDescribeUserScramCredentials(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if err := s.accessCluster(r, access.Describe); err != nil {
		resp.ErrorCode = err.Code
		return resp, nil
	}
	if s.cfg.Credentials == nil {
		return resp, nil
	}
	if len(req.Users) == 0 {
		for _, u := range s.cfg.Credentials.Describe(nil) {
			resp.Results = append(resp.Results, scramResult(u))
		}
		return resp, nil
	}
	count := map[string]int{}
	for _, u := range req.Users {
		count[u.Name]++
	}
	for _, u := range req.Users {
		if count[u.Name] < 0 {
			continue // a duplicate, answered once already
		}
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = u.Name
		infos := s.cfg.Credentials.Describe([]string{u.Name})
		switch {
		case count[u.Name] > 1:
			count[u.Name] = -1
			res.ErrorCode = kerr.DuplicateResource.Code
			msg := "Cannot describe SCRAM credentials for the same user twice in a single request: " + u.Name
			res.ErrorMessage = &msg
		case len(infos) == 0:
			res.ErrorCode = kerr.ResourceNotFound.Code
			msg := "Attempt to describe nonexistent SCRAM credential for user " + u.Name
			res.ErrorMessage = &msg
		default:
			res = scramResult(infos[0])
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

func scramResult(u auth.UserInfo) kmsg.DescribeUserSCRAMCredentialsResponseResult {
	res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
	res.User = u.User
	for _, c := range u.Credentials {
		ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
		ci.Mechanism, ci.Iterations = scramMechanismCode(c.Mechanism), c.Iterations
		res.CredentialInfos = append(res.CredentialInfos, ci)
	}
	return res
}

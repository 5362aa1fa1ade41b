package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/quota"
)

// handleDescribeClientQuotas lists the quota entities a filter matches
// and their values (v0-v1, KIP-546). As in Kafka it needs
// DESCRIBE_CONFIGS on the cluster (else CLUSTER_AUTHORIZATION_FAILED),
// and a filter naming an unknown entity type or match type, or a type
// twice, answers INVALID_REQUEST. EXACT with a null name matches the
// default entity; ANY matches every specified (non-default) name.
func handleDescribeClientQuotas(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	if err := s.accessCluster(r, access.DescribeConfigs); err != nil {
		resp.ErrorCode, resp.ErrorMessage = err.Code, kmsg.StringPtr(err.Message)
		return resp, nil
	}
	f := quota.Filter{Strict: req.Strict}
	for _, c := range req.Components {
		comp := quota.Component{Type: c.EntityType, Match: int8(c.MatchType)}
		if comp.Match == quota.MatchExact {
			if c.Match == nil {
				comp.Match = quota.MatchDefault
			} else {
				comp.Name = *c.Match
			}
		}
		f.Components = append(f.Components, comp)
	}
	if err := f.Validate(); err != nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		return resp, nil
	}
	for _, e := range s.quotas.Describe(f) {
		resp.Entries = append(resp.Entries, describedQuota(e))
	}
	return resp, nil
}

// describedQuota is e as a response entry; a default entity's name is
// null on the wire.
func describedQuota(e quota.Entry) kmsg.DescribeClientQuotasResponseEntry {
	entry := kmsg.NewDescribeClientQuotasResponseEntry()
	for _, t := range []string{quota.User, quota.ClientID, quota.IP} {
		n, ok := e.Entity[t]
		if !ok {
			continue
		}
		ent := kmsg.NewDescribeClientQuotasResponseEntryEntity()
		ent.Type = t
		if n != "" {
			ent.Name = kmsg.StringPtr(n)
		}
		entry.Entity = append(entry.Entity, ent)
	}
	for _, k := range sortedKeys(e.Values) {
		v := kmsg.NewDescribeClientQuotasResponseEntryValue()
		v.Key, v.Value = k, e.Values[k]
		entry.Values = append(entry.Values, v)
	}
	return entry
}

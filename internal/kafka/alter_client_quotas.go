package kafka

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/quota"
)

// handleAlterClientQuotas sets and removes quota values (v0-v1, KIP-546).
// As in Kafka it needs ALTER_CONFIGS on the cluster (else every entry is
// CLUSTER_AUTHORIZATION_FAILED) and answers each entry on its own: an
// invalid one (unknown entity type or key, a type twice, an ip with a
// user, a value that is not positive, a fractional byte rate) gets
// INVALID_REQUEST with the reason; the valid ones are made durable
// together (KAFKA_STORAGE_ERROR for all when the metadata log fails) and
// apply to the next request. validate_only checks without changing.
func handleAlterClientQuotas(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	entries, validateOnly := req.Entries, req.ValidateOnly
	r.later(func() kmsg.Response {
		resp.Entries = make([]kmsg.AlterClientQuotasResponseEntry, len(entries))
		for i, e := range entries {
			resp.Entries[i].Entity = alteredEntity(e.Entity)
		}
		if err := s.accessCluster(r, access.AlterConfigs); err != nil {
			for i := range resp.Entries {
				resp.Entries[i].ErrorCode, resp.Entries[i].ErrorMessage = err.Code, kmsg.StringPtr(err.Message)
			}
			return resp
		}
		var valid []quota.Alteration
		var at []int // at[j] is valid[j]'s index in entries
		for i, e := range entries {
			a, err := alteration(e)
			if err == nil {
				err = a.Validate()
			}
			if err != nil {
				resp.Entries[i].ErrorCode, resp.Entries[i].ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
				continue
			}
			valid, at = append(valid, a), append(at, i)
		}
		if err := s.quotas.Alter(valid, validateOnly); err != nil {
			code := kerr.KafkaStorageError.Code
			if errors.Is(err, quota.ErrInvalid) {
				code = kerr.InvalidRequest.Code
			}
			s.logger.Error("alter client quotas", "err", err)
			for _, i := range at {
				resp.Entries[i].ErrorCode, resp.Entries[i].ErrorMessage = code, kmsg.StringPtr(err.Error())
			}
		}
		return resp
	})
	return nil, nil
}

// alteration is a request entry as a quota.Alteration: a null name is the
// type's default; an empty name or a type named twice is refused.
func alteration(e kmsg.AlterClientQuotasRequestEntry) (quota.Alteration, error) {
	a := quota.Alteration{Entity: quota.Entity{}}
	for _, ent := range e.Entity {
		if _, dup := a.Entity[ent.Type]; dup {
			return a, fmt.Errorf("%w: entity type %q appears twice", quota.ErrInvalid, ent.Type)
		}
		name := ""
		if ent.Name != nil {
			if *ent.Name == "" {
				return a, fmt.Errorf("%w: empty %s name (a null name is the default entity)", quota.ErrInvalid, ent.Type)
			}
			name = *ent.Name
		}
		a.Entity[ent.Type] = name
	}
	for _, op := range e.Ops {
		a.Ops = append(a.Ops, quota.Op{Key: op.Key, Value: op.Value, Remove: op.Remove})
	}
	return a, nil
}

func alteredEntity(es []kmsg.AlterClientQuotasRequestEntryEntity) []kmsg.AlterClientQuotasResponseEntryEntity {
	out := make([]kmsg.AlterClientQuotasResponseEntryEntity, len(es))
	for i, e := range es {
		out[i] = kmsg.NewAlterClientQuotasResponseEntryEntity()
		out[i].Type, out[i].Name = e.Type, e.Name
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

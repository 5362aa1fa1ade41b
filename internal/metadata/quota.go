package metadata

import (
	"cmp"
	"maps"
	"slices"
)

// SetQuotas is the client quota record type: each entry of Record.Quotas
// replaces the values of its entity (an empty Values removes the entity).
// Part of the file format; do not change.
const SetQuotas = "set_quotas"

// Quota is one client quota entity and its values as the log stores them
// (Kafka's ClientQuotaEntity and its quota map). Entity maps an entity
// type ("user", "client-id", "ip") to a name, "" being the type's default
// entity (Kafka's null name); internal/quota gives them meaning. The JSON
// names are part of the file format; do not change.
type Quota struct {
	Entity map[string]string  `json:"entity"`
	Values map[string]float64 `json:"values,omitempty"` // "producer_byte_rate": 1048576, ...
}

// QuotaKey is the canonical text of an entity: its types in order, each
// "type=name" ("type=" for a default), joined by "," — the key
// State.Quotas is sorted by.
func QuotaKey(entity map[string]string) string {
	types := slices.Sorted(maps.Keys(entity))
	k := ""
	for i, t := range types {
		if i > 0 {
			k += ","
		}
		k += t + "=" + entity[t]
	}
	return k
}

// CompareQuota orders quotas by QuotaKey.
func CompareQuota(a, b Quota) int { return cmp.Compare(QuotaKey(a.Entity), QuotaKey(b.Entity)) }

// applyQuotas applies a set_quotas record to s.Quotas, which stays sorted
// by CompareQuota with one entry per entity and no empty Values.
func (s *State) applyQuotas(r Record) {
	for _, q := range r.Quotas {
		i, found := slices.BinarySearchFunc(s.Quotas, q, CompareQuota)
		switch {
		case len(q.Values) == 0 && found:
			s.Quotas = slices.Delete(s.Quotas, i, i+1)
		case len(q.Values) == 0:
		case found:
			s.Quotas[i] = cloneQuota(q)
		default:
			s.Quotas = slices.Insert(s.Quotas, i, cloneQuota(q))
		}
	}
}

func cloneQuota(q Quota) Quota {
	return Quota{Entity: maps.Clone(q.Entity), Values: maps.Clone(q.Values)}
}

func cloneQuotas(qs []Quota) []Quota {
	out := make([]Quota, len(qs))
	for i, q := range qs {
		out[i] = cloneQuota(q)
	}
	return out
}

func equalQuotas(a, b []Quota) bool {
	return slices.EqualFunc(a, b, func(x, y Quota) bool {
		return maps.Equal(x.Entity, y.Entity) && maps.Equal(x.Values, y.Values)
	})
}

// Quotas returns a copy of the client quotas the log holds, sorted by
// CompareQuota.
func (l *Log) Quotas() []Quota {
	l.mu.Lock()
	defer l.mu.Unlock()
	return cloneQuotas(l.mu.st.Quotas)
}

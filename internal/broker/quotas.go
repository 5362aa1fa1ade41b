package broker

import "github.com/heraldhq/herald/internal/metadata"

// Quotas returns the client quotas the metadata log holds (a copy): what
// a quota manager starts from (quota.Store).
func (b *Broker) Quotas() []metadata.Quota { return b.meta.Quotas() }

// SetQuotas makes the entities' quota values durable in the metadata log
// (one set_quotas record, fsynced): each replaces its entity's values, an
// empty Values removes the entity. On error nothing changed.
func (b *Broker) SetQuotas(qs []metadata.Quota) error {
	return b.meta.Append(metadata.Record{Type: metadata.SetQuotas, Quotas: qs})
}

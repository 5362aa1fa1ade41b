package broker

import "github.com/heraldhq/herald/internal/metadata"

// ACLs returns the ACL bindings the metadata log holds (a copy): what an
// ACL authorizer starts from (acl.Store).
func (b *Broker) ACLs() []metadata.ACL { return b.meta.ACLs() }

// AddACLs makes the bindings durable in the metadata log (one create_acls
// record, fsynced); bindings already there are no-ops. On error nothing
// was added.
func (b *Broker) AddACLs(acls []metadata.ACL) error {
	return b.meta.Append(metadata.Record{Type: metadata.CreateACLs, ACLs: acls})
}

// RemoveACLs removes the bindings from the metadata log (one delete_acls
// record, fsynced). On error nothing was removed.
func (b *Broker) RemoveACLs(acls []metadata.ACL) error {
	return b.meta.Append(metadata.Record{Type: metadata.DeleteACLs, ACLs: acls})
}

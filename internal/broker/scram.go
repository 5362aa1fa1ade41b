package broker

import "github.com/heraldhq/herald/internal/metadata"

// ScramCredentials is the users' SCRAM credentials as replayed from the
// metadata log at Open; the credential store (package auth) owns them
// from then on and writes changes with AppendScram. The caller must not
// modify the map.
func (b *Broker) ScramCredentials() map[metadata.ScramKey]metadata.Scram { return b.scram }

// AppendScram writes a SCRAM credential record (metadata.SetScram or
// DeleteScram) to the metadata log, fsynced; it is replayed at the next
// Open. The metadata log orders concurrent appends itself.
func (b *Broker) AppendScram(r metadata.Record) error { return b.meta.Append(r) }

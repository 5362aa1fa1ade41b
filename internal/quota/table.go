package quota

import "github.com/heraldhq/herald/internal/metadata"

// part is one entity type's part of an entity: absent, the default, or a
// name.
type part uint8

const (
	absent part = iota
	dflt
	named
)

// tkey is a user/client-id entity as a map key that a lookup builds
// without allocating: names are "" unless their part is named.
type tkey struct {
	u, c         part
	user, client string
}

// table is the immutable lookup of enforced quotas by user/client-id
// entity; ip entities and unenforced keys are not in it.
type table struct {
	m map[tkey]*[numKinds]float64 // 0: not set
}

// newTable builds the table of entries, or returns nil when no entry
// sets an enforced quota.
func newTable(entries []metadata.Quota) *table {
	t := &table{m: make(map[tkey]*[numKinds]float64)}
	for _, q := range entries {
		if _, ip := q.Entity[IP]; ip {
			continue
		}
		var vals [numKinds]float64
		any := false
		for k, key := range kindKeys {
			if v, ok := q.Values[key]; ok && v > 0 {
				vals[k], any = v, true
			}
		}
		if any {
			t.m[entityKey(q.Entity)] = &vals
		}
	}
	if len(t.m) == 0 {
		return nil
	}
	return t
}

func entityKey(e map[string]string) tkey {
	var k tkey
	if n, ok := e[User]; ok {
		k.u, k.user = partOf(n), n
	}
	if n, ok := e[ClientID]; ok {
		k.c, k.client = partOf(n), n
	}
	return k
}

func partOf(name string) part {
	if name == "" {
		return dflt
	}
	return named
}

// precedence is Kafka's order of quota entities for a client (KIP-55),
// most specific first, each with which of the client's parts its sensor
// is per (Kafka's quota metric tags).
var precedence = [...]struct {
	u, c               part
	perUser, perClient bool
}{
	{named, named, true, true},   // /users/<user>/clients/<client-id>
	{named, dflt, true, true},    // /users/<user>/clients/<default>
	{named, absent, true, false}, // /users/<user>
	{dflt, named, true, true},    // /users/<default>/clients/<client-id>
	{dflt, dflt, true, true},     // /users/<default>/clients/<default>
	{dflt, absent, true, false},  // /users/<default>
	{absent, named, false, true}, // /clients/<client-id>
	{absent, dflt, false, true},  // /clients/<default>
}

// resolve finds the quota of kind k for the client (user, clientID): the
// first entity in precedence order that sets k, as Kafka resolves each
// quota type on its own.
func (t *table) resolve(k Kind, user, clientID string) (float64, sensorKey, bool) {
	for _, p := range precedence {
		key := tkey{u: p.u, c: p.c}
		if p.u == named {
			key.user = user
		}
		if p.c == named {
			key.client = clientID
		}
		vals := t.m[key]
		if vals == nil || vals[k] == 0 {
			continue
		}
		sk := sensorKey{kind: k}
		if p.perUser {
			sk.user = user
		}
		if p.perClient {
			sk.clientID = clientID
		}
		return vals[k], sk, true
	}
	return 0, sensorKey{}, false
}

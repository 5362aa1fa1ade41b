package metadata

import (
	"cmp"
	"slices"
)

// ACL record types. Part of the file format; do not change.
const (
	CreateACLs = "create_acls" // ACLs: bindings added (already present ones are no-ops)
	DeleteACLs = "delete_acls" // ACLs: bindings removed (absent ones are no-ops)
)

// ACL is one access-control binding as the log stores it: Kafka's
// AclBinding, with Kafka's wire codes for the resource type, pattern type,
// operation and permission (internal/acl gives them meaning). The JSON
// names are part of the file format; do not change.
type ACL struct {
	Principal    string `json:"principal"`     // "User:alice", "User:*"
	Host         string `json:"host"`          // "*" or an IP address
	ResourceType int8   `json:"resource_type"` // 2 topic, 3 group, 4 cluster, 5 transactional id
	Name         string `json:"name"`
	PatternType  int8   `json:"pattern_type"` // 3 literal, 4 prefixed
	Operation    int8   `json:"operation"`    // 2 all, 3 read, 4 write, ...
	Permission   int8   `json:"permission"`   // 2 deny, 3 allow
}

// CompareACL orders ACLs by every field; State.ACLs is kept in this order.
func CompareACL(a, b ACL) int {
	return cmp.Or(
		cmp.Compare(a.ResourceType, b.ResourceType), cmp.Compare(a.PatternType, b.PatternType),
		cmp.Compare(a.Name, b.Name), cmp.Compare(a.Principal, b.Principal), cmp.Compare(a.Host, b.Host),
		cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Permission, b.Permission),
	)
}

// applyACLs applies a create_acls or delete_acls record to s.ACLs, which
// stays sorted by CompareACL and free of duplicates.
func (s *State) applyACLs(r Record) {
	switch r.Type {
	case CreateACLs:
		for _, a := range r.ACLs {
			if i, found := slices.BinarySearchFunc(s.ACLs, a, CompareACL); !found {
				s.ACLs = slices.Insert(s.ACLs, i, a)
			}
		}
	case DeleteACLs:
		s.ACLs = slices.DeleteFunc(s.ACLs, func(a ACL) bool { return slices.Contains(r.ACLs, a) })
	}
}

package kafka

import "github.com/heraldhq/herald/internal/access"

// opsNotAsked is the authorized-operations field of a request that did
// not ask for it (Kafka's INT32_MIN).
const opsNotAsked = -2147483648

// authorizedOps answers an authorized-operations field (Metadata's
// IncludeTopicAuthorizedOperations and IncludeClusterAuthorizedOperations,
// DescribeCluster's, DescribeGroups' and ConsumerGroupDescribe's
// IncludeAuthorizedOperations): opsNotAsked when not asked, else bit n set
// for each AclOperation n that the resource type knows (access.Ops) and
// the authorizer allows r on the resource, decided in one batch. With
// access.AllowAll that is every operation of the type. A resource r may
// not DESCRIBE has none (0), as Kafka answers for the cluster.
func (s *Server) authorizedOps(r *request, asked bool, rt access.ResourceType, name string) int32 {
	if !asked {
		return opsNotAsked
	}
	ops := access.Ops(rt)
	acts := make([]access.Action, len(ops))
	for i, op := range ops {
		acts[i] = access.Action{Op: op, Type: rt, Name: name, Filter: true}
	}
	s.decide(r, acts)
	var bits int32
	for _, a := range acts {
		if a.Allowed {
			bits |= 1 << a.Op
		}
	}
	if bits&(1<<access.Describe) == 0 {
		return 0
	}
	return bits
}

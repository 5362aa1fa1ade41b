package kafka

import "github.com/twmb/franz-go/pkg/kmsg"

// Authorized operations, answered when a request asks for them
// (Metadata's IncludeTopicAuthorizedOperations and
// IncludeClusterAuthorizedOperations, DescribeCluster's, DescribeGroups'
// and ConsumerGroupDescribe's IncludeAuthorizedOperations): bit n is set
// when AclOperation n is allowed. Herald has no authorizer, so every
// operation that applies to the resource type is allowed; these are the
// sets Kafka's ACLs know for a topic, a group and the cluster. A request
// that does not ask gets opsNotAsked (Kafka's INT32_MIN).
const (
	topicOps = 1<<kmsg.ACLOperationRead | 1<<kmsg.ACLOperationWrite | 1<<kmsg.ACLOperationCreate |
		1<<kmsg.ACLOperationDelete | 1<<kmsg.ACLOperationAlter | 1<<kmsg.ACLOperationDescribe |
		1<<kmsg.ACLOperationDescribeConfigs | 1<<kmsg.ACLOperationAlterConfigs
	groupOps   = 1<<kmsg.ACLOperationRead | 1<<kmsg.ACLOperationDelete | 1<<kmsg.ACLOperationDescribe
	clusterOps = 1<<kmsg.ACLOperationCreate | 1<<kmsg.ACLOperationAlter | 1<<kmsg.ACLOperationDescribe |
		1<<kmsg.ACLOperationClusterAction | 1<<kmsg.ACLOperationDescribeConfigs |
		1<<kmsg.ACLOperationAlterConfigs | 1<<kmsg.ACLOperationIdempotentWrite
	opsNotAsked = -2147483648
)

// authorizedOps is ops when asked, else opsNotAsked.
func authorizedOps(asked bool, ops int32) int32 {
	if asked {
		return ops
	}
	return opsNotAsked
}

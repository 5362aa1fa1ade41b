package access

import "github.com/twmb/franz-go/pkg/kmsg"

// Principal is who a connection acts as: Kafka's KafkaPrincipal, a type
// and a name, written "User:alice". Until SASL exists every connection
// is Anonymous.
type Principal struct {
	Type string // "User" for every principal Kafka's authenticators make
	Name string
}

// Anonymous is the principal of an unauthenticated connection, as Kafka
// names it.
var Anonymous = Principal{Type: "User", Name: "ANONYMOUS"}

// String is "Type:Name", the form Kafka's ACLs and logs use.
func (p Principal) String() string { return p.Type + ":" + p.Name }

// ResourceType is what kind of resource an action touches: Kafka's ACL
// resource type codes, as kmsg names them.
type ResourceType = kmsg.ACLResourceType

// The resource types requests meet. Part of the wire format (CreateAcls,
// DescribeAcls); do not change.
const (
	Topic           ResourceType = kmsg.ACLResourceTypeTopic           // 2
	Group           ResourceType = kmsg.ACLResourceTypeGroup           // 3
	Cluster         ResourceType = kmsg.ACLResourceTypeCluster         // 4
	TransactionalID ResourceType = kmsg.ACLResourceTypeTransactionalId // 5
)

// ClusterName is the name of the one Cluster resource, as Kafka names it
// in ACLs.
const ClusterName = "kafka-cluster"

// Operation is what an action does to its resource: Kafka's AclOperation
// codes, as kmsg names them.
type Operation = kmsg.ACLOperation

// The operations requests ask for. Part of the wire format (CreateAcls,
// DescribeAcls and the authorized-operations bitfields, where bit n is
// operation n); do not change.
const (
	Read            Operation = kmsg.ACLOperationRead            // 3
	Write           Operation = kmsg.ACLOperationWrite           // 4
	Create          Operation = kmsg.ACLOperationCreate          // 5
	Delete          Operation = kmsg.ACLOperationDelete          // 6
	Alter           Operation = kmsg.ACLOperationAlter           // 7
	Describe        Operation = kmsg.ACLOperationDescribe        // 8
	ClusterAction   Operation = kmsg.ACLOperationClusterAction   // 9
	DescribeConfigs Operation = kmsg.ACLOperationDescribeConfigs // 10
	AlterConfigs    Operation = kmsg.ACLOperationAlterConfigs    // 11
	IdempotentWrite Operation = kmsg.ACLOperationIdempotentWrite // 12
)

// Request is who asks and with what request: Kafka's
// AuthorizableRequestContext. It is passed by value and holds only
// strings the connection already has, so building one allocates nothing.
type Request struct {
	Principal  Principal
	ClientHost string // the client's IP address, without the port
	ClientID   string // the request header's client id
	APIKey     int16  // the request's API key (0 Produce, 1 Fetch, ...)
	APIVersion int16
}

// Action is one question for an Authorizer: may the request do Op to the
// resource (Type, Name)? The Authorizer answers in Allowed. (Name comes
// first so that an Action is 24 bytes.)
type Action struct {
	Name string // ClusterName for Cluster
	Op   Operation
	Type ResourceType
	// Filter is set when a denial hides the resource from a listing
	// (Metadata of all topics, ListGroups, ListTransactions, the
	// authorized-operations bitfields) rather than failing the request:
	// Kafka's logIfDenied=false. An audit log may skip those denials.
	Filter bool
	// Allowed is the answer, set by Authorize.
	Allowed bool
}

// Authorizer decides whether requests may act on resources.
//
// Authorize sets acts[i].Allowed for every action of one request; the
// server calls it before it touches any of the resources, once per
// resource on the produce and fetch paths and with a batch where a
// request asks many questions at once (a Metadata listing, the
// authorized-operations bitfields). It must not keep rc or acts after it
// returns (the server reuses acts) and must not block on I/O: it runs on
// the connection's reader goroutine. It is called concurrently from many
// connections, so it must be safe for concurrent use.
//
// Implied operations are the Authorizer's business, as in Kafka: READ,
// WRITE, DELETE or ALTER on a resource imply DESCRIBE, ALTER_CONFIGS
// implies DESCRIBE_CONFIGS, and Kafka 3 lets WRITE on any topic imply
// IDEMPOTENT_WRITE on the cluster. The server asks for exactly the
// operation Kafka's KafkaApis checks.
type Authorizer interface {
	Authorize(rc Request, acts []Action)
}

// AllowAll is the Authorizer that allows everything: the default while
// Herald has no ACLs. It allocates nothing.
type AllowAll struct{}

// Authorize allows every action.
func (AllowAll) Authorize(_ Request, acts []Action) {
	for i := range acts {
		acts[i].Allowed = true
	}
}

// Ops returns the operations Kafka's ACLs know for a resource type (its
// AclEntry.supportedOperations): the bits an authorized-operations field
// may have. Unknown types have none.
func Ops(rt ResourceType) []Operation {
	switch rt {
	case Topic:
		return []Operation{Read, Write, Create, Delete, Alter, Describe, DescribeConfigs, AlterConfigs}
	case Group:
		return []Operation{Read, Delete, Describe}
	case Cluster:
		return []Operation{Create, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, Alter, Describe}
	case TransactionalID:
		return []Operation{Describe, Write}
	}
	return nil
}

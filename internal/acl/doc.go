// Package acl is Herald's ACL authorizer: Kafka's access control lists,
// with Kafka's rules, behind the access.Authorizer seam. `herald serve
// --authorizer acl` turns it on; CreateAcls, DescribeAcls and DeleteAcls
// (and `herald acl add|list|remove`) change its bindings, which are
// durable in the metadata log and apply to the next request without a
// restart.
//
// # Bindings
//
// A Binding is Kafka's AclBinding:
//
//	principal   "User:alice", or "User:*" for every user
//	host        "*" or the client's IP address
//	resource    TOPIC, GROUP, CLUSTER ("kafka-cluster") or TRANSACTIONAL_ID,
//	            with a name and a pattern type:
//	              LITERAL   the name exactly; "*" is every name
//	              PREFIXED  every name that starts with the name
//	operation   READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, CLUSTER_ACTION,
//	            DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, or ALL
//	permission  ALLOW or DENY
//
// # Decisions
//
// For a principal doing an operation on a resource, in this order:
//
//  1. a super user (Config.SuperUsers, Kafka's super.users) is allowed;
//  2. a DENY that matches (principal or "User:*", host or "*", the
//     operation or ALL, the resource by any pattern) denies: deny wins;
//  3. an ALLOW that matches allows, where READ, WRITE, DELETE and ALTER
//     also allow DESCRIBE and ALTER_CONFIGS allows DESCRIBE_CONFIGS;
//  4. with neither, the action is denied, unless no binding at all names
//     the resource and Config.AllowIfNoACL (Kafka's
//     allow.everyone.if.no.acl.found) is set.
//
// IDEMPOTENT_WRITE on the cluster is also allowed to a principal that may
// WRITE some topic (Kafka 3, KIP-679): an ALLOW of WRITE or ALL on a topic
// name or prefix that no DENY covers.
//
// # Speed
//
// Authorize reads an immutable index (one atomic load) and allocates
// nothing: bindings are filed by resource type, then by name (LITERAL) or
// by prefix (PREFIXED, one map lookup per distinct prefix length), so a
// check touches only the bindings that can apply. A change builds a new
// index and swaps it in. BenchmarkAuthorize compares 10,000 bindings
// with access.AllowAll.
//
// # Usage
//
//	a := acl.New(acl.Config{
//		SuperUsers: []access.Principal{{Type: "User", Name: "admin"}},
//		Store:      b, // *broker.Broker: the metadata log
//	})
//	err := a.Create([]acl.Binding{{
//		Principal: "User:alice", Host: "*",
//		Type: access.Topic, Name: "orders.", Pattern: acl.Prefixed,
//		Op: access.Write, Permission: acl.Allow,
//	}})
//	srv := kafka.New(kafka.Config{Broker: b, ACL: a}) // a is also the Authorizer
//
// See Example for a runnable program.
package acl

// Package access is the vocabulary of Herald's access seam: who asks (a
// Principal, with the request's client host, client id and API key), what
// for (an Operation on a resource of a ResourceType and name: Kafka's ACL
// codes), and the Authorizer that answers. The protocol server
// (internal/kafka) asks the Authorizer before any request touches a topic,
// a group, a transactional id or the cluster, and answers a denial with
// the resource type's *_AUTHORIZATION_FAILED code; quotas and request
// metrics attach to the same place (kafka.Config.Observe).
//
// AllowAll, which allows everything, is the default until Herald has
// ACLs. An ACL authorizer implements Authorizer:
//
//	type readOnly struct{}
//
//	func (readOnly) Authorize(rc access.Request, acts []access.Action) {
//		for i := range acts {
//			acts[i].Allowed = acts[i].Op == access.Read || acts[i].Op == access.Describe
//		}
//	}
//
//	srv := kafka.New(kafka.Config{Broker: b, Authorizer: readOnly{}})
//
// Authorize answers a batch of actions in place, and Request and Action
// are plain values, so a check on the produce and fetch paths allocates
// nothing.
package access

package kafka

import (
	"net"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/access"
)

// The access seam: every handler, before it touches a topic, a group, a
// transactional id or the cluster, asks s.access (one resource) or
// s.decide (a batch: listings and authorized-operations bitfields). decide
// is the one place a request meets a resource: it asks the Authorizer
// (Config.Authorizer, access.AllowAll by default) and then hands every
// decision to Config.Observe, the hook for an audit log of decisions
// (quotas and request metrics hook into dispatch, which knows sizes and
// handler times). The operation asked for each API is the one Kafka's KafkaApis asks;
// a denial is the resource type's *_AUTHORIZATION_FAILED (deniedErr), and
// a listing hides what it may not show.
//
// Denials are decided before existence: a topic the principal may not
// describe answers TOPIC_AUTHORIZATION_FAILED whether it exists or not,
// so names do not leak.

// accessRequest is the access.Request of r. It copies strings the
// connection already holds, so it allocates nothing.
func (r *request) accessRequest() access.Request {
	return access.Request{
		Principal: r.c.principal, ClientHost: r.c.host, ClientID: r.clientID,
		APIKey: r.key, APIVersion: r.version,
	}
}

// decide answers every action of acts for r (sets Allowed) and tells the
// Observe hook. acts must not be used by another goroutine meanwhile.
func (s *Server) decide(r *request, acts []access.Action) {
	rc := r.accessRequest()
	s.auth.Authorize(rc, acts)
	if s.cfg.Observe != nil {
		s.cfg.Observe(rc, acts)
	}
}

// access asks whether r may do op to the resource (rt, name): nil when it
// may, else the resource type's *_AUTHORIZATION_FAILED.
func (s *Server) access(r *request, op access.Operation, rt access.ResourceType, name string) *kerr.Error {
	acts := r.oneAction()
	acts[0] = access.Action{Op: op, Type: rt, Name: name}
	s.decide(r, acts)
	if acts[0].Allowed {
		return nil
	}
	return deniedErr(rt)
}

// allowed reports whether r may do op to (rt, name), as access; a denial
// hides the resource from a listing (Action.Filter).
func (s *Server) allowed(r *request, op access.Operation, rt access.ResourceType, name string) bool {
	acts := r.oneAction()
	acts[0] = access.Action{Op: op, Type: rt, Name: name, Filter: true}
	s.decide(r, acts)
	return acts[0].Allowed
}

// oneAction is a buffer for one action. A handler still on the reader
// goroutine (it has not called r.later, so p.done is nil) uses the
// connection's, which only that goroutine touches: the produce and fetch
// paths check without allocating, and the request struct does not grow.
// Later functions, which may run alongside the next request's handler,
// get a new one.
func (r *request) oneAction() []access.Action {
	if r.p != nil && r.p.done == nil {
		return r.c.act[:]
	}
	return make([]access.Action, 1)
}

// allowedNames decides op on each of names (of type rt) in one batch, as
// a filter: allowed[i] is names[i]'s answer.
func (s *Server) allowedNames(r *request, op access.Operation, rt access.ResourceType, names []string) []bool {
	acts := make([]access.Action, len(names))
	for i, n := range names {
		acts[i] = access.Action{Op: op, Type: rt, Name: n, Filter: true}
	}
	s.decide(r, acts)
	ok := make([]bool, len(names))
	for i := range acts {
		ok[i] = acts[i].Allowed
	}
	return ok
}

// accessCluster asks for op on the cluster.
func (s *Server) accessCluster(r *request, op access.Operation) *kerr.Error {
	return s.access(r, op, access.Cluster, access.ClusterName)
}

// deniedErr is the error a request denied on a resource of type rt
// answers.
func deniedErr(rt access.ResourceType) *kerr.Error {
	switch rt {
	case access.Topic:
		return kerr.TopicAuthorizationFailed
	case access.Group:
		return kerr.GroupAuthorizationFailed
	case access.TransactionalID:
		return kerr.TransactionalIDAuthorizationFailed
	}
	return kerr.ClusterAuthorizationFailed
}

// clientHost is the IP address of a remote address, without the port.
func clientHost(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

package kafka

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/acl"
)

func createAclsReq(principal, topic string) *kmsg.CreateACLsRequest {
	req := kmsg.NewPtrCreateACLsRequest()
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = access.Topic, topic, acl.Literal
	c.Principal, c.Host, c.Operation, c.PermissionType = principal, "*", access.Read, acl.Allow
	req.Creations = append(req.Creations, c)
	return req
}

func describeAllAclsReq() *kmsg.DescribeACLsRequest {
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType = acl.AnyType, acl.AnyPattern
	req.Operation, req.PermissionType = acl.AnyOp, acl.AnyPermission
	return req
}

func deleteAclsReq(principal string) *kmsg.DeleteACLsRequest {
	req := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType, f.Operation, f.PermissionType = acl.AnyType, acl.AnyPattern, acl.AnyOp, acl.AnyPermission
	f.Principal = &principal
	req.Filters = append(req.Filters, f)
	return req
}

// everything is every operation on every resource of the four types.
func everything(principal string) []acl.Binding {
	var bs []acl.Binding
	for _, rt := range []access.ResourceType{access.Topic, access.Group, access.TransactionalID} {
		bs = append(bs, acl.Binding{Principal: principal, Host: "*", Type: rt, Name: "*", Pattern: acl.Literal, Op: acl.All, Permission: acl.Allow})
	}
	return append(bs, acl.Binding{Principal: principal, Host: "*", Type: access.Cluster, Name: access.ClusterName, Pattern: acl.Literal, Op: acl.All, Permission: acl.Allow})
}

// bindingKinds are the ways TestACLMatrix grants a need: the literal
// name, a prefix of it, the "*" name, and every user ("User:*").
const (
	kindLiteral = iota
	kindPrefixed
	kindWildcardName
	kindWildcardPrincipal
	numKinds
)

// grantBinding is g as an ALLOW binding of the given kind (the cluster is
// always literal: it has one name).
func grantBinding(g grant, kind int) acl.Binding {
	b := acl.Binding{Principal: g.principal, Host: "*", Type: g.rt, Name: g.name, Pattern: acl.Literal, Op: g.op, Permission: acl.Allow}
	switch {
	case g.rt == access.Cluster:
	case kind == kindPrefixed:
		b.Pattern, b.Name = acl.Prefixed, g.name[:1]
	case kind == kindWildcardName:
		b.Name = acl.Wildcard
	case kind == kindWildcardPrincipal:
		b.Principal = "User:*"
	}
	return b
}

func grantBindings(gs []grant, kind int) []acl.Binding {
	bs := make([]acl.Binding, len(gs))
	for i, g := range gs {
		bs[i] = grantBinding(g, (kind+i)%numKinds)
	}
	return bs
}

// aclRun is one matrix case on a server that runs the ACL authorizer.
type aclRun struct {
	*seamRun
	a *acl.Authorizer
}

func startACLCase(t *testing.T, sc seamCase) *aclRun {
	t.Helper()
	a := acl.New(acl.Config{})
	ss := &seamServer{auth: newTableAuth()}
	startSeamServerWith(t, ss, func(cfg *Config) { cfg.ACL = a })
	r := &aclRun{a: a, seamRun: &seamRun{t: t, ts: ss, sc: sc}}
	r.set(everything(access.Anonymous.String()))
	r.c = ss.dial(t)
	r.fx = makeFixture(t, ss, r.c)
	if sc.setup != nil {
		sc.setup(t, r.c, r.fx)
	}
	return r
}

// set replaces every binding with bs.
func (r *aclRun) set(bs []acl.Binding) {
	r.t.Helper()
	if _, err := r.a.Delete([]acl.Filter{{Type: acl.AnyType, Pattern: acl.AnyPattern, Op: acl.AnyOp, Permission: acl.AnyPermission}}); err != nil {
		r.t.Fatal(err)
	}
	if err := r.a.Create(bs); err != nil {
		r.t.Fatal(err)
	}
}

// askACL sets the bindings and answers the case's request's code.
func (r *aclRun) askACL(bs []acl.Binding) int16 {
	r.t.Helper()
	r.set(bs)
	return r.sc.code(r.c.roundTrip(r.sc.req(r.fx)))
}

// impliedByTopicWrite reports whether g is IDEMPOTENT_WRITE on the
// cluster and the other needs give WRITE on a topic, which implies it
// (Kafka 3): removing or denying g alone then denies nothing.
func impliedByTopicWrite(g grant, needs []grant) bool {
	return g.op == access.IdempotentWrite && slices.ContainsFunc(needs, func(n grant) bool {
		return n.rt == access.Topic && n.op == access.Write
	})
}

// TestACLMatrix runs every API of the access matrix against a broker
// with the ACL authorizer instead of a table: without any one binding it
// needs, or with its bindings given to User:alice, or with everything
// allowed to the principal but one need DENIED, a request answers its
// resource type's *_AUTHORIZATION_FAILED (deny beats allow, also when the
// allow is a prefix or a wildcard); with the bindings, written as
// literal names, prefixes, "*" names and "User:*" principals in turn, it
// succeeds. The denials go first on one server: the success after them
// shows they changed nothing.
func TestACLMatrix(t *testing.T) {
	for ci, sc := range seamCases() {
		if sc.ok == kerr.SecurityDisabled.Code {
			sc.ok = 0 // the ACL APIs, now with an authorizer
		}
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			r := startACLCase(t, sc)
			for i, g := range sc.needs {
				if impliedByTopicWrite(g, sc.needs) {
					continue
				}
				without := slices.Delete(slices.Clone(sc.needs), i, i+1)
				if got, want := r.askACL(grantBindings(without, ci)), deniedCode[g.rt]; got != want {
					t.Errorf("without %v: %v, want %v", g, kerr.ErrorForCode(got), kerr.ErrorForCode(want))
				}
				deny := grantBinding(g, kindLiteral)
				deny.Permission = acl.Deny
				if got, want := r.askACL(append(grantBindings(sc.needs, ci+1), deny)), deniedCode[g.rt]; got != want {
					t.Errorf("all needs allowed, %v denied: %v, want %v", g, kerr.ErrorForCode(got), kerr.ErrorForCode(want))
				}
			}
			other := make([]grant, len(sc.needs))
			for i, g := range sc.needs {
				g.principal = "User:alice"
				other[i] = g
			}
			if got := r.askACL(grantBindings(other, kindLiteral)); got == sc.ok {
				t.Errorf("with the bindings given to User:alice: %v, want a denial", kerr.ErrorForCode(got))
			}
			bs := grantBindings(sc.needs, ci)
			if got := r.askACL(bs); got != sc.ok {
				t.Errorf("with %v: %v, want %v", bs, kerr.ErrorForCode(got), kerr.ErrorForCode(sc.ok))
			}
		})
	}
}

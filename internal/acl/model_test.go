package acl

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/access"
)

// model is the brute-force authorizer the index must agree with: Kafka's
// rules applied to a flat list, one binding at a time.
type model struct {
	bs     []Binding
	supers []access.Principal
	ifNone bool
}

func (m *model) principalMatches(b Binding, p access.Principal) bool {
	return b.Principal == p.String() || b.Principal == p.Type+":*"
}

func (m *model) hostMatches(b Binding, host string) bool { return b.Host == "*" || b.Host == host }

func (m *model) resourceMatches(b Binding, rt access.ResourceType, name string) bool {
	if b.Type != rt {
		return false
	}
	if b.Pattern == Prefixed {
		return strings.HasPrefix(name, b.Name)
	}
	return b.Name == name || b.Name == "*"
}

// impliedBy lists, for an operation, every granted operation that allows
// it (Kafka's AclAuthorizer table).
func impliedBy(op access.Operation) []access.Operation {
	switch op {
	case access.Describe:
		return []access.Operation{All, access.Describe, access.Read, access.Write, access.Delete, access.Alter}
	case access.DescribeConfigs:
		return []access.Operation{All, access.DescribeConfigs, access.AlterConfigs}
	}
	return []access.Operation{All, op}
}

func (m *model) allowed(rc access.Request, act access.Action) bool {
	if slices.Contains(m.supers, rc.Principal) {
		return true
	}
	if m.plain(rc, act.Op, act.Type, act.Name) {
		return true
	}
	return act.Op == access.IdempotentWrite && act.Type == access.Cluster && m.anyTopicWrite(rc)
}

func (m *model) plain(rc access.Request, op access.Operation, rt access.ResourceType, name string) bool {
	found, allow := false, false
	for _, b := range m.bs {
		if !m.resourceMatches(b, rt, name) {
			continue
		}
		found = true
		if !m.principalMatches(b, rc.Principal) || !m.hostMatches(b, rc.ClientHost) {
			continue
		}
		if b.Permission == Deny && (b.Op == op || b.Op == All) {
			return false
		}
		if b.Permission == Allow && slices.Contains(impliedBy(op), b.Op) {
			allow = true
		}
	}
	return allow || !found && m.ifNone
}

func (m *model) anyTopicWrite(rc access.Request) bool {
	var allows, denies []Binding
	for _, b := range m.bs {
		if b.Type == access.Topic && (b.Op == access.Write || b.Op == All) &&
			m.principalMatches(b, rc.Principal) && m.hostMatches(b, rc.ClientHost) {
			if b.Permission == Deny {
				denies = append(denies, b)
			} else {
				allows = append(allows, b)
			}
		}
	}
	for _, d := range denies {
		if d.Pattern == Literal && d.Name == "*" {
			return false
		}
	}
	if m.ifNone {
		return true
	}
	covered := func(a Binding) bool {
		if a.Pattern == Literal && a.Name == "*" {
			return false
		}
		for _, d := range denies {
			if d.Pattern == Prefixed && strings.HasPrefix(a.Name, d.Name) ||
				d.Pattern == Literal && a.Pattern == Literal && d.Name == a.Name {
				return true
			}
		}
		return false
	}
	for _, a := range allows {
		if !covered(a) {
			return true
		}
	}
	return false
}

var (
	modelPrincipals = []string{"User:alice", "User:bob", "User:*", "Group:alice"}
	modelHosts      = []string{"*", "10.0.0.1", "10.0.0.2"}
	modelTypes      = []access.ResourceType{access.Topic, access.Group, access.Cluster, access.TransactionalID}
	modelNames      = []string{"a", "ab", "abc", "b", "*"}
	modelOps        = []access.Operation{All, access.Read, access.Write, access.Create, access.Delete, access.Alter,
		access.Describe, access.ClusterAction, access.DescribeConfigs, access.AlterConfigs, access.IdempotentWrite}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func randomBinding(r *rand.Rand) Binding {
	b := Binding{
		Principal: pick(r, modelPrincipals), Host: pick(r, modelHosts), Type: pick(r, modelTypes),
		Name: pick(r, modelNames), Pattern: Literal, Op: pick(r, modelOps), Permission: Allow,
	}
	if r.IntN(3) == 0 {
		b.Permission = Deny
	}
	if r.IntN(3) == 0 && b.Name != "*" {
		b.Pattern = Prefixed
	}
	if b.Type == access.Cluster {
		b.Name, b.Pattern = access.ClusterName, Literal
	}
	return b
}

// TestAuthorizeAgreesWithModel: for random binding sets (with and without
// allow-if-no-acl and super users), every principal, host, operation and
// resource gets the same answer from the indexed Authorizer as from the
// brute-force model.
func TestAuthorizeAgreesWithModel(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 16))
	queryNames := []string{"a", "ab", "abc", "abd", "b", "c", "*", "kafka-cluster"}
	queryPrincipals := []access.Principal{{Type: "User", Name: "alice"}, {Type: "User", Name: "bob"}, {Type: "User", Name: "carol"}, {Type: "Group", Name: "alice"}}
	checks := 0
	for round := 0; round < 300; round++ {
		m := &model{ifNone: round%3 == 0}
		for n := r.IntN(12); n > 0; n-- {
			m.bs = append(m.bs, randomBinding(r))
		}
		if round%5 == 0 {
			m.supers = []access.Principal{{Type: "User", Name: "bob"}}
		}
		a := New(Config{SuperUsers: m.supers, AllowIfNoACL: m.ifNone})
		if err := a.Create(m.bs); err != nil {
			t.Fatal(err)
		}
		for _, p := range queryPrincipals {
			for _, host := range []string{"10.0.0.1", "10.0.0.3"} {
				rc := access.Request{Principal: p, ClientHost: host}
				for _, rt := range modelTypes {
					for _, name := range queryNames {
						acts := make([]access.Action, 0, len(modelOps))
						for _, op := range modelOps[1:] {
							acts = append(acts, access.Action{Op: op, Type: rt, Name: name})
						}
						a.Authorize(rc, acts)
						for _, act := range acts {
							checks++
							if want := m.allowed(rc, act); act.Allowed != want {
								t.Fatalf("round %d: %v from %s: %v %v %q: got %v, model %v\nbindings:\n%s",
									round, p, host, act.Op, act.Type, act.Name, act.Allowed, want, dump(m.bs))
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d decisions agree", checks)
}

func dump(bs []Binding) string {
	var sb strings.Builder
	for _, b := range bs {
		sb.WriteString("  " + b.String() + "\n")
	}
	return sb.String()
}

// TestDeleteAgreesWithFilters: Delete removes exactly what its filters
// match (checked against Filter.Matches over the old set), and Describe
// lists the rest.
func TestDeleteAgreesWithFilters(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for round := 0; round < 200; round++ {
		a := New(Config{})
		var bs []Binding
		for n := 1 + r.IntN(15); n > 0; n-- {
			bs = append(bs, randomBinding(r))
		}
		if err := a.Create(bs); err != nil {
			t.Fatal(err)
		}
		before := a.Describe(Filter{Type: AnyType, Pattern: AnyPattern, Op: AnyOp, Permission: AnyPermission})
		f := randomFilter(r)
		matched, err := a.Delete([]Filter{f})
		if err != nil {
			t.Fatal(err)
		}
		var wantGone, wantLeft []Binding
		for _, b := range before {
			if f.Matches(b) {
				wantGone = append(wantGone, b)
			} else {
				wantLeft = append(wantLeft, b)
			}
		}
		left := a.Describe(Filter{Type: AnyType, Pattern: AnyPattern, Op: AnyOp, Permission: AnyPermission})
		if !slices.Equal(matched[0], wantGone) || !slices.Equal(left, wantLeft) {
			t.Fatalf("filter %+v: deleted %v left %v; want deleted %v left %v", f, matched[0], left, wantGone, wantLeft)
		}
	}
}

func randomFilter(r *rand.Rand) Filter {
	f := Filter{Type: AnyType, Pattern: pick(r, []PatternType{AnyPattern, Match, Literal, Prefixed}), Op: AnyOp, Permission: AnyPermission}
	if r.IntN(2) == 0 {
		f.Type = pick(r, modelTypes)
	}
	if r.IntN(2) == 0 {
		n := pick(r, []string{"a", "ab", "abc", "b", "*", "kafka-cluster"})
		f.Name = &n
	}
	if r.IntN(3) == 0 {
		p := pick(r, modelPrincipals)
		f.Principal = &p
	}
	if r.IntN(3) == 0 {
		f.Op = pick(r, modelOps)
	}
	if r.IntN(3) == 0 {
		f.Permission = pick(r, []Permission{Allow, Deny})
	}
	return f
}

package acl

import (
	"slices"
	"strings"

	"github.com/heraldhq/herald/internal/access"
)

// index is an immutable view of a set of bindings built for lookups that
// allocate nothing and touch only the bindings that can apply: by
// resource type, then by exact name (LITERAL, "*" included) or by prefix
// (PREFIXED: one map lookup per distinct prefix length no longer than the
// name). An Authorizer swaps a whole new index in on every change.
type index struct {
	types [numTypes]patterns
	// topicWrite holds, by principal, the TOPIC bindings for WRITE or
	// ALL: what "WRITE on any topic" (IDEMPOTENT_WRITE on the cluster)
	// is decided from.
	topicWrite map[principalKey][]named
	// all is every binding, sorted by bindingOrder.
	all []Binding
}

// numTypes bounds the resource type codes an index files (0..7).
const numTypes = 8

// patterns are the bindings of one resource type.
type patterns struct {
	literal  map[string][]ace // by name; Wildcard is every name
	prefixed map[string][]ace // by prefix
	lens     []int            // the distinct lengths of prefixed's keys, ascending
}

// ace is an access control entry: a binding without its resource.
type ace struct {
	who  principalKey
	host string
	op   access.Operation
	deny bool
}

// principalKey is a principal split in two, so that matching compares
// strings and does not build "Type:Name".
type principalKey struct{ typ, name string }

// named is an ace with its pattern, for the by-type question.
type named struct {
	ace
	name   string
	prefix bool
}

func newIndex(bs []Binding) *index {
	ix := &index{all: bs, topicWrite: map[principalKey][]named{}}
	for _, b := range bs {
		typ, name, _ := strings.Cut(b.Principal, ":")
		e := ace{who: principalKey{typ, name}, host: b.Host, op: b.Op, deny: b.Permission == Deny}
		ix.types[b.Type].add(b, e)
		if b.Type == access.Topic && (b.Op == access.Write || b.Op == All) {
			ix.topicWrite[e.who] = append(ix.topicWrite[e.who], named{ace: e, name: b.Name, prefix: b.Pattern == Prefixed})
		}
	}
	return ix
}

func (p *patterns) add(b Binding, e ace) {
	if b.Pattern == Literal {
		if p.literal == nil {
			p.literal = map[string][]ace{}
		}
		p.literal[b.Name] = append(p.literal[b.Name], e)
		return
	}
	if p.prefixed == nil {
		p.prefixed = map[string][]ace{}
	}
	p.prefixed[b.Name] = append(p.prefixed[b.Name], e)
	if i, found := slices.BinarySearch(p.lens, len(b.Name)); !found {
		p.lens = slices.Insert(p.lens, i, len(b.Name))
	}
}

// matches reports whether e applies to rc's principal and host.
func (e *ace) matches(rc *access.Request) bool {
	return e.who.typ == rc.Principal.Type && (e.who.name == rc.Principal.Name || e.who.name == Wildcard) &&
		(e.host == Wildcard || e.host == rc.ClientHost)
}

// implies reports whether granting op allows asked, with Kafka's implied
// operations: ALL allows everything; READ, WRITE, DELETE and ALTER allow
// DESCRIBE; ALTER_CONFIGS allows DESCRIBE_CONFIGS.
func implies(op, asked access.Operation) bool {
	if op == asked || op == All {
		return true
	}
	switch asked {
	case access.Describe:
		return op == access.Read || op == access.Write || op == access.Delete || op == access.Alter
	case access.DescribeConfigs:
		return op == access.AlterConfigs
	}
	return false
}

// verdict accumulates one decision over the entries that apply.
type verdict struct {
	found, allow, deny bool
}

func (v *verdict) scan(es []ace, rc *access.Request, op access.Operation) {
	for i := range es {
		v.found = true
		e := &es[i]
		if !e.matches(rc) {
			continue
		}
		if e.deny {
			v.deny = v.deny || e.op == op || e.op == All
		} else {
			v.allow = v.allow || implies(e.op, op)
		}
	}
}

// decide answers whether rc may do op to (rt, name): a matching DENY
// wins, then a matching ALLOW (implied operations included) allows; with
// neither, ifNone decides when no binding at all covers the resource
// (allow.everyone.if.no.acl.found), and otherwise the answer is no.
func (ix *index) decide(rc *access.Request, op access.Operation, rt access.ResourceType, name string, ifNone bool) bool {
	if rt < 0 || int(rt) >= numTypes {
		return false
	}
	p := &ix.types[rt]
	var v verdict
	if p.literal != nil {
		v.scan(p.literal[name], rc, op)
		if name != Wildcard {
			v.scan(p.literal[Wildcard], rc, op)
		}
	}
	for _, n := range p.lens {
		if n > len(name) {
			break
		}
		v.scan(p.prefixed[name[:n]], rc, op)
	}
	switch {
	case v.deny:
		return false
	case v.allow:
		return true
	}
	return !v.found && ifNone
}

// anyTopicWrite answers Kafka's authorizeByResourceType(WRITE, TOPIC): may
// rc write to at least one topic? Yes when an ALLOW of WRITE (or ALL)
// names a topic, or a prefix, that no DENY covers; a DENY of every topic
// ("*") says no; with ifNone (allow.everyone.if.no.acl.found) anything
// short of that says yes.
func (ix *index) anyTopicWrite(rc *access.Request, ifNone bool) bool {
	mine := ix.topicWrite[principalKey{rc.Principal.Type, rc.Principal.Name}]
	everyone := ix.topicWrite[principalKey{rc.Principal.Type, Wildcard}]
	if rc.Principal.Name == Wildcard {
		everyone = nil // the same list
	}
	for _, list := range [2][]named{mine, everyone} {
		for i := range list {
			if e := &list[i]; e.deny && !e.prefix && e.name == Wildcard && e.ace.matches(rc) {
				return false
			}
		}
	}
	if ifNone {
		return true
	}
	for _, list := range [2][]named{mine, everyone} {
		for i := range list {
			if e := &list[i]; !e.deny && e.ace.matches(rc) && !deniedPattern(e, rc, mine, everyone) {
				return true
			}
		}
	}
	return false
}

// deniedPattern reports whether a DENY in the lists covers every topic
// the ALLOW a names: the same literal name, or a prefix of its name (of
// a literal or prefixed a).
func deniedPattern(a *named, rc *access.Request, lists ...[]named) bool {
	if !a.prefix && a.name == Wildcard {
		return false // only a DENY of "*" covers it, checked before
	}
	for _, list := range lists {
		for i := range list {
			d := &list[i]
			if !d.deny || !d.ace.matches(rc) {
				continue
			}
			if d.prefix && strings.HasPrefix(a.name, d.name) || !d.prefix && !a.prefix && d.name == a.name {
				return true
			}
		}
	}
	return false
}

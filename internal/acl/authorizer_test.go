package acl

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/metadata"
)

func user(name string) access.Principal { return access.Principal{Type: "User", Name: name} }

func allow(p string, op access.Operation, rt access.ResourceType, pat PatternType, name string) Binding {
	return Binding{Principal: p, Host: "*", Type: rt, Name: name, Pattern: pat, Op: op, Permission: Allow}
}

func deny(p string, op access.Operation, rt access.ResourceType, pat PatternType, name string) Binding {
	b := allow(p, op, rt, pat, name)
	b.Permission = Deny
	return b
}

func may(a *Authorizer, p access.Principal, op access.Operation, rt access.ResourceType, name string) bool {
	acts := []access.Action{{Op: op, Type: rt, Name: name}}
	a.Authorize(access.Request{Principal: p, ClientHost: "10.0.0.1"}, acts)
	return acts[0].Allowed
}

// TestKafkaRules: the rules of Kafka's AclAuthorizer, one case each.
func TestKafkaRules(t *testing.T) {
	alice, bob := user("alice"), user("bob")
	cases := []struct {
		name     string
		bs       []Binding
		cfg      Config
		p        access.Principal
		op       access.Operation
		rt       access.ResourceType
		resource string
		want     bool
	}{
		{"default deny", nil, Config{}, alice, access.Read, access.Topic, "t", false},
		{"allow if no acl", nil, Config{AllowIfNoACL: true}, alice, access.Read, access.Topic, "t", true},
		{"allow if no acl: another's acl on the resource denies", []Binding{allow("User:bob", access.Read, access.Topic, Literal, "t")},
			Config{AllowIfNoACL: true}, alice, access.Read, access.Topic, "t", false},
		{"literal", []Binding{allow("User:alice", access.Read, access.Topic, Literal, "t")}, Config{}, alice, access.Read, access.Topic, "t", true},
		{"literal is not a prefix", []Binding{allow("User:alice", access.Read, access.Topic, Literal, "t")}, Config{}, alice, access.Read, access.Topic, "tt", false},
		{"other principal", []Binding{allow("User:alice", access.Read, access.Topic, Literal, "t")}, Config{}, bob, access.Read, access.Topic, "t", false},
		{"wildcard principal", []Binding{allow("User:*", access.Read, access.Topic, Literal, "t")}, Config{}, bob, access.Read, access.Topic, "t", true},
		{"wildcard name", []Binding{allow("User:alice", access.Read, access.Topic, Literal, "*")}, Config{}, alice, access.Read, access.Topic, "any", true},
		{"prefixed", []Binding{allow("User:alice", access.Write, access.Topic, Prefixed, "orders.")}, Config{}, alice, access.Write, access.Topic, "orders.eu", true},
		{"prefixed miss", []Binding{allow("User:alice", access.Write, access.Topic, Prefixed, "orders.")}, Config{}, alice, access.Write, access.Topic, "order", false},
		{"other type", []Binding{allow("User:alice", access.Read, access.Group, Literal, "t")}, Config{}, alice, access.Read, access.Topic, "t", false},
		{"deny wins", []Binding{allow("User:alice", All, access.Topic, Literal, "*"), deny("User:alice", access.Write, access.Topic, Prefixed, "secret")},
			Config{}, alice, access.Write, access.Topic, "secret-1", false},
		{"deny of another op", []Binding{allow("User:alice", All, access.Topic, Literal, "*"), deny("User:alice", access.Write, access.Topic, Prefixed, "secret")},
			Config{}, alice, access.Read, access.Topic, "secret-1", true},
		{"deny all of everyone", []Binding{allow("User:alice", access.Read, access.Topic, Literal, "t"), deny("User:*", All, access.Topic, Literal, "t")},
			Config{}, alice, access.Read, access.Topic, "t", false},
		{"deny does not imply: DENY READ leaves DESCRIBE", []Binding{allow("User:alice", access.Describe, access.Topic, Literal, "t"), deny("User:alice", access.Read, access.Topic, Literal, "t")},
			Config{}, alice, access.Describe, access.Topic, "t", true},
		{"READ implies DESCRIBE", []Binding{allow("User:alice", access.Read, access.Topic, Literal, "t")}, Config{}, alice, access.Describe, access.Topic, "t", true},
		{"WRITE implies DESCRIBE", []Binding{allow("User:alice", access.Write, access.Topic, Literal, "t")}, Config{}, alice, access.Describe, access.Topic, "t", true},
		{"DELETE implies DESCRIBE", []Binding{allow("User:alice", access.Delete, access.Topic, Literal, "t")}, Config{}, alice, access.Describe, access.Topic, "t", true},
		{"ALTER implies DESCRIBE", []Binding{allow("User:alice", access.Alter, access.Topic, Literal, "t")}, Config{}, alice, access.Describe, access.Topic, "t", true},
		{"CREATE does not imply DESCRIBE", []Binding{allow("User:alice", access.Create, access.Topic, Literal, "t")}, Config{}, alice, access.Describe, access.Topic, "t", false},
		{"DESCRIBE does not imply READ", []Binding{allow("User:alice", access.Describe, access.Topic, Literal, "t")}, Config{}, alice, access.Read, access.Topic, "t", false},
		{"ALTER_CONFIGS implies DESCRIBE_CONFIGS", []Binding{allow("User:alice", access.AlterConfigs, access.Topic, Literal, "t")}, Config{}, alice, access.DescribeConfigs, access.Topic, "t", true},
		{"ALL", []Binding{allow("User:alice", All, access.Group, Literal, "g")}, Config{}, alice, access.Delete, access.Group, "g", true},
		{"host", []Binding{{Principal: "User:alice", Host: "10.9.9.9", Type: access.Topic, Name: "t", Pattern: Literal, Op: access.Read, Permission: Allow}},
			Config{}, alice, access.Read, access.Topic, "t", false},
		{"super user", nil, Config{SuperUsers: []access.Principal{alice}}, alice, access.ClusterAction, access.Cluster, access.ClusterName, true},
		{"super user beats deny", []Binding{deny("User:alice", All, access.Topic, Literal, "*")}, Config{SuperUsers: []access.Principal{alice}}, alice, access.Write, access.Topic, "t", true},
		{"idempotent write from WRITE on a topic", []Binding{allow("User:alice", access.Write, access.Topic, Prefixed, "o")}, Config{}, alice, access.IdempotentWrite, access.Cluster, access.ClusterName, true},
		{"idempotent write: the topic's write is denied", []Binding{allow("User:alice", access.Write, access.Topic, Literal, "o"), deny("User:alice", access.Write, access.Topic, Prefixed, "o")},
			Config{}, alice, access.IdempotentWrite, access.Cluster, access.ClusterName, false},
		{"idempotent write: READ is not WRITE", []Binding{allow("User:alice", access.Read, access.Topic, Literal, "o")}, Config{}, alice, access.IdempotentWrite, access.Cluster, access.ClusterName, false},
		{"idempotent write explicitly", []Binding{allow("User:alice", access.IdempotentWrite, access.Cluster, Literal, access.ClusterName)}, Config{}, alice, access.IdempotentWrite, access.Cluster, access.ClusterName, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := New(c.cfg)
			if err := a.Create(c.bs); err != nil {
				t.Fatal(err)
			}
			if got := may(a, c.p, c.op, c.rt, c.resource); got != c.want {
				t.Errorf("%v %v %v %q: got %v, want %v", c.p, c.op, c.rt, c.resource, got, c.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := allow("User:alice", access.Read, access.Topic, Literal, "t")
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(*Binding)
	}{
		{"delegation token", func(b *Binding) { b.Type = 6 }},
		{"any type", func(b *Binding) { b.Type = AnyType }},
		{"match pattern", func(b *Binding) { b.Pattern = Match }},
		{"empty name", func(b *Binding) { b.Name = "" }},
		{"cluster name", func(b *Binding) { b.Type, b.Name = access.Cluster, "c" }},
		{"any op", func(b *Binding) { b.Op = AnyOp }},
		{"unknown op", func(b *Binding) { b.Op = 0 }},
		{"any permission", func(b *Binding) { b.Permission = AnyPermission }},
		{"principal without type", func(b *Binding) { b.Principal = "alice" }},
		{"principal without name", func(b *Binding) { b.Principal = "User:" }},
		{"host name", func(b *Binding) { b.Host = "example.com" }},
	} {
		b := ok
		c.edit(&b)
		if err := b.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", c.name, err)
		}
		if err := New(Config{}).Create([]Binding{ok, b}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Create = %v, want ErrInvalid", c.name, err)
		}
	}
}

// TestFilterKafkaSemantics: MATCH finds the bindings that apply to a
// name, ANY those with exactly the name, LITERAL and PREFIXED their own.
func TestFilterKafkaSemantics(t *testing.T) {
	bs := []Binding{
		allow("User:a", access.Read, access.Topic, Literal, "orders"),
		allow("User:a", access.Read, access.Topic, Literal, "*"),
		allow("User:a", access.Read, access.Topic, Prefixed, "ord"),
		allow("User:a", access.Read, access.Topic, Prefixed, "orders"),
		allow("User:a", access.Read, access.Topic, Prefixed, "x"),
		allow("User:a", access.Read, access.Group, Literal, "orders"),
	}
	name := "orders"
	count := func(f Filter) int {
		n := 0
		for _, b := range bs {
			if f.Matches(b) {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		f    Filter
		want int
	}{
		{Filter{Type: access.Topic, Name: &name, Pattern: Match, Op: AnyOp, Permission: AnyPermission}, 4},
		{Filter{Type: access.Topic, Name: &name, Pattern: AnyPattern, Op: AnyOp, Permission: AnyPermission}, 2},
		{Filter{Type: access.Topic, Name: &name, Pattern: Literal, Op: AnyOp, Permission: AnyPermission}, 1},
		{Filter{Type: access.Topic, Name: &name, Pattern: Prefixed, Op: AnyOp, Permission: AnyPermission}, 1},
		{Filter{Type: AnyType, Name: &name, Pattern: AnyPattern, Op: AnyOp, Permission: AnyPermission}, 3},
		{Filter{Type: AnyType, Pattern: Prefixed, Op: AnyOp, Permission: AnyPermission}, 3},
		{Filter{Type: AnyType, Pattern: AnyPattern, Op: access.Write, Permission: AnyPermission}, 0},
		{Filter{Type: AnyType, Pattern: AnyPattern, Op: AnyOp, Permission: Deny}, 0},
	} {
		if got := count(c.f); got != c.want {
			t.Errorf("filter %+v matches %d, want %d", c.f, got, c.want)
		}
	}
	if err := (Filter{Type: 0, Pattern: AnyPattern, Op: AnyOp, Permission: AnyPermission}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("UNKNOWN resource type in a filter: %v", err)
	}
}

// memStore is a Store in memory that can be made to fail.
type memStore struct {
	mu   sync.Mutex
	acls []metadata.ACL
	fail error
}

func (m *memStore) ACLs() []metadata.ACL { m.mu.Lock(); defer m.mu.Unlock(); return m.acls }
func (m *memStore) AddACLs(r []metadata.ACL) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.acls = append(m.acls, r...)
	return nil
}

func (m *memStore) RemoveACLs(r []metadata.ACL) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fail
}

// TestStoreFailureChangesNothing: a change the store refuses does not
// apply; New starts from what the store holds.
func TestStoreFailureChangesNothing(t *testing.T) {
	st := &memStore{}
	a := New(Config{Store: st})
	b := allow("User:alice", access.Read, access.Topic, Literal, "t")
	if err := a.Create([]Binding{b}); err != nil {
		t.Fatal(err)
	}
	if !may(New(Config{Store: st}), user("alice"), access.Read, access.Topic, "t") {
		t.Fatal("a new Authorizer does not start from the store")
	}
	st.fail = errors.New("disk full")
	if err := a.Create([]Binding{allow("User:bob", access.Read, access.Topic, Literal, "t")}); err == nil {
		t.Fatal("Create succeeded with a failing store")
	}
	if may(a, user("bob"), access.Read, access.Topic, "t") {
		t.Fatal("a failed Create applied")
	}
	if _, err := a.Delete([]Filter{{Type: AnyType, Pattern: AnyPattern, Op: AnyOp, Permission: AnyPermission}}); err == nil {
		t.Fatal("Delete succeeded with a failing store")
	}
	if !may(a, user("alice"), access.Read, access.Topic, "t") {
		t.Fatal("a failed Delete applied")
	}
}

// TestConcurrentChanges: checks run while bindings change (go test -race).
func TestConcurrentChanges(t *testing.T) {
	a := New(Config{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acts := make([]access.Action, 1)
			for {
				select {
				case <-stop:
					return
				default:
				}
				acts[0] = access.Action{Op: access.Read, Type: access.Topic, Name: "t-7"}
				a.Authorize(access.Request{Principal: user("alice")}, acts)
			}
		}()
	}
	for i := 0; i < 200; i++ {
		b := allow("User:alice", access.Read, access.Topic, Literal, fmt.Sprintf("t-%d", i))
		if err := a.Create([]Binding{b}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if !may(a, user("alice"), access.Read, access.Topic, "t-7") {
		t.Fatal("binding lost")
	}
}

// TestAuthorizeAllocatesNothing: with 10,000 bindings, a check on the
// produce path (literal, prefixed, wildcard and idempotent write) costs
// no allocation.
func TestAuthorizeAllocatesNothing(t *testing.T) {
	a := bigAuthorizer(t, 10000)
	rc := access.Request{Principal: user("u-42"), ClientHost: "10.0.0.1"}
	acts := make([]access.Action, 1)
	for _, act := range []access.Action{
		{Op: access.Write, Type: access.Topic, Name: "topic-42"},
		{Op: access.Write, Type: access.Topic, Name: "pre-42-x"},
		{Op: access.IdempotentWrite, Type: access.Cluster, Name: access.ClusterName},
		{Op: access.Read, Type: access.Group, Name: "nothing"},
	} {
		if n := testing.AllocsPerRun(100, func() {
			acts[0] = act
			a.Authorize(rc, acts)
		}); n != 0 {
			t.Errorf("%v %v %q: %v allocations", act.Op, act.Type, act.Name, n)
		}
	}
}

// bigAuthorizer holds n bindings: per user u-i, WRITE on topic-i, READ on
// prefix pre-i-, and a DENY on group g-i.
func bigAuthorizer(tb testing.TB, n int) *Authorizer {
	a := New(Config{})
	bs := make([]Binding, 0, n)
	for i := 0; len(bs) < n; i++ {
		p := fmt.Sprintf("User:u-%d", i)
		bs = append(bs,
			allow(p, access.Write, access.Topic, Literal, fmt.Sprintf("topic-%d", i)),
			allow(p, access.Write, access.Topic, Prefixed, fmt.Sprintf("pre-%d-", i)),
			deny(p, access.Read, access.Group, Literal, fmt.Sprintf("g-%d", i)))
	}
	if err := a.Create(bs[:n]); err != nil {
		tb.Fatal(err)
	}
	return a
}

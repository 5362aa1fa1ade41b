package acl

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/metadata"
)

// Store keeps the bindings durable: the broker's metadata log
// (broker.Broker implements it). AddACLs and RemoveACLs return once the
// change survives a crash; on error nothing changed. Present bindings
// added and absent ones removed are no-ops.
type Store interface {
	ACLs() []metadata.ACL
	AddACLs([]metadata.ACL) error
	RemoveACLs([]metadata.ACL) error
}

// Config configures an Authorizer.
type Config struct {
	// SuperUsers may do everything, whatever the bindings say (Kafka's
	// super.users).
	SuperUsers []access.Principal
	// AllowIfNoACL allows an action on a resource no binding covers
	// (Kafka's allow.everyone.if.no.acl.found); default deny.
	AllowIfNoACL bool
	// Store makes changes durable and holds the bindings New starts
	// from; nil keeps them in memory only.
	Store Store
}

// Authorizer is Kafka's ACL authorizer: an access.Authorizer that decides
// from bindings, and the store CreateAcls, DescribeAcls and DeleteAcls
// change. Authorize reads an immutable index through one atomic load and
// allocates nothing; changes build a new index and swap it in, so they
// apply to the next check without a restart. All methods are safe for
// concurrent use.
type Authorizer struct {
	cfg Config
	idx atomic.Pointer[index]
	// mu serializes changes: a change writes the store (an fsync, under
	// mu; never on the Authorize path) and then swaps idx.
	mu sync.Mutex
}

// New returns an Authorizer holding the store's bindings.
func New(cfg Config) *Authorizer {
	a := &Authorizer{cfg: cfg}
	var bs []Binding
	if cfg.Store != nil {
		for _, r := range cfg.Store.ACLs() {
			bs = append(bs, fromRecord(r))
		}
	}
	a.idx.Store(newIndex(sortBindings(bs)))
	return a
}

// Authorize implements access.Authorizer with Kafka's rules: a super user
// may do everything; otherwise a matching DENY (of the operation or ALL)
// wins over any ALLOW, a matching ALLOW (of the operation, ALL, or an
// operation that implies it) allows, and an action no binding covers is
// denied unless AllowIfNoACL. IDEMPOTENT_WRITE on the cluster is also
// allowed to a principal that may WRITE to some topic (Kafka 3, KIP-679).
func (a *Authorizer) Authorize(rc access.Request, acts []access.Action) {
	if a.super(rc.Principal) {
		for i := range acts {
			acts[i].Allowed = true
		}
		return
	}
	ix := a.idx.Load()
	for i := range acts {
		act := &acts[i]
		act.Allowed = ix.decide(&rc, act.Op, act.Type, act.Name, a.cfg.AllowIfNoACL)
		if !act.Allowed && act.Op == access.IdempotentWrite && act.Type == access.Cluster {
			act.Allowed = ix.anyTopicWrite(&rc, a.cfg.AllowIfNoACL)
		}
	}
}

func (a *Authorizer) super(p access.Principal) bool {
	for _, s := range a.cfg.SuperUsers {
		if s == p {
			return true
		}
	}
	return false
}

// Create adds the bindings, which must be valid (Binding.Validate), and
// makes them durable before they apply; bindings already present are
// no-ops. On error nothing changed.
func (a *Authorizer) Create(bs []Binding) error {
	for _, b := range bs {
		if err := b.Validate(); err != nil {
			return err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.idx.Load().all
	seen := make(map[Binding]bool, len(cur)+len(bs))
	for _, b := range cur {
		seen[b] = true
	}
	var add []Binding
	for _, b := range bs {
		if !seen[b] {
			seen[b] = true
			add = append(add, b)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if err := a.persist(add, a.storeAdd); err != nil {
		return err
	}
	a.idx.Store(newIndex(sortBindings(append(slices.Clone(cur), add...))))
	return nil
}

// Describe returns the bindings f matches, sorted (resource type, pattern
// type, name, principal, host, operation, permission).
func (a *Authorizer) Describe(f Filter) []Binding {
	var out []Binding
	for _, b := range a.idx.Load().all {
		if f.Matches(b) {
			out = append(out, b)
		}
	}
	return out
}

// Delete removes every binding one of the filters matches, durably, and
// returns, for each filter, the bindings it matched (a binding two
// filters match is in both lists and removed once). On error nothing
// changed.
func (a *Authorizer) Delete(fs []Filter) ([][]Binding, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.idx.Load().all
	matched := make([][]Binding, len(fs))
	gone := map[Binding]bool{}
	var del []Binding
	for i, f := range fs {
		for _, b := range cur {
			if f.Matches(b) {
				matched[i] = append(matched[i], b)
				if !gone[b] {
					gone[b] = true
					del = append(del, b)
				}
			}
		}
	}
	if len(del) == 0 {
		return matched, nil
	}
	if err := a.persist(del, a.storeRemove); err != nil {
		return nil, err
	}
	keep := slices.DeleteFunc(slices.Clone(cur), func(b Binding) bool { return gone[b] })
	a.idx.Store(newIndex(keep))
	return matched, nil
}

// persist hands bs to the store (when there is one). mu must be held.
func (a *Authorizer) persist(bs []Binding, write func([]metadata.ACL) error) error {
	if a.cfg.Store == nil {
		return nil
	}
	recs := make([]metadata.ACL, len(bs))
	for i, b := range bs {
		recs[i] = b.record()
	}
	if err := write(recs); err != nil {
		return fmt.Errorf("acl: store: %w", err)
	}
	return nil
}

func (a *Authorizer) storeAdd(r []metadata.ACL) error    { return a.cfg.Store.AddACLs(r) }
func (a *Authorizer) storeRemove(r []metadata.ACL) error { return a.cfg.Store.RemoveACLs(r) }

// sortBindings sorts bs in the metadata log's order, in place.
func sortBindings(bs []Binding) []Binding {
	slices.SortFunc(bs, func(x, y Binding) int { return metadata.CompareACL(x.record(), y.record()) })
	return bs
}

// ParseSuperUsers parses Kafka's super.users form, "User:admin;User:ops".
func ParseSuperUsers(s string) ([]access.Principal, error) {
	var out []access.Principal
	for _, p := range splitNonEmpty(s, ';') {
		typ, name, err := SplitPrincipal(p)
		if err != nil {
			return nil, fmt.Errorf("super users: %w", err)
		}
		out = append(out, access.Principal{Type: typ, Name: name})
	}
	return out, nil
}

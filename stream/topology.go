package stream

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Topology is the graph of processors that an App runs: built once with
// Source, TableOf and the operators, then handed to New. Operators record
// their first misuse (a topic read twice, a store name used twice) in the
// topology, and New returns it; building never panics.
//
// A Topology is not safe for concurrent building, and must not be changed
// after New.
type Topology struct {
	nodes   []*node
	sources map[string]*sourceDef // by logical topic name
	stores  map[string]*storeDef  // by store name
	errs    []error
	// wallClock: some node punctuates by the wall clock, and the poll
	// loop must wake for it.
	wallClock bool
}

// NewTopology returns an empty Topology.
func NewTopology() *Topology {
	return &Topology{sources: map[string]*sourceDef{}, stores: map[string]*storeDef{}}
}

// node is one processor of the graph, as Describe shows it.
type node struct {
	id      int
	kind    string   // source, map, filter, sink, aggregate, ...
	parents []*node  // upstream nodes; none for a source
	topics  []string // the source topics (logical) that feed this node
	sink    string   // the topic a sink writes (logical)
	store   string   // the store a stateful node uses
	intern  bool     // sink or source of an internal (repartition) topic
}

func (n *node) name() string { return fmt.Sprintf("%s-%d", n.kind, n.id) }

// sourceDef is a topic the App consumes and the processors it feeds.
type sourceDef struct {
	topic    string // logical: a user topic, or an internal name under the app id
	internal bool   // a repartition topic: physical name is <app>-<topic>-repartition
	node     *node
	// upstream is the subtopology's node that writes an internal topic (its
	// partition count follows that subtopology's), nil for a user topic.
	upstream *node
	build    func(tk *task) (recordFn, error)
}

// storeDef is a state store: its name and changelog, by its node.
type storeDef struct {
	name  string
	node  *node
	query *storeQuery // nil: not queryable over HTTP
	// retention (ms), if not 0, makes the changelog compact,delete with
	// that retention.ms.
	retention int64
}

// storesOf returns the names of the stores of the subtopology that
// reads the logical topics sub, sorted.
func (t *Topology) storesOf(appID string, sub []string) []string {
	in := map[string]bool{}
	for _, tp := range sub {
		in[tp] = true
	}
	var out []string
	for name, sd := range t.stores {
		if len(sd.node.topics) > 0 && in[sd.node.topics[0]] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// setQuery makes store queryable over HTTP (App.ServeHTTP).
func (t *Topology) setQuery(store string, q *storeQuery) {
	if sd := t.stores[store]; sd != nil {
		sd.query = q
	}
}

func (t *Topology) addNode(kind string, parents ...*node) *node {
	n := &node{id: len(t.nodes), kind: kind, parents: parents}
	seen := map[string]bool{}
	for _, p := range parents {
		for _, tp := range p.topics {
			if !seen[tp] {
				seen[tp] = true
				n.topics = append(n.topics, tp)
			}
		}
	}
	sort.Strings(n.topics)
	t.nodes = append(t.nodes, n)
	return n
}

func (t *Topology) fail(err error) { t.errs = append(t.errs, err) }

// err reports every misuse recorded while building, joined.
func (t *Topology) err() error {
	if len(t.sources) == 0 {
		return errors.Join(append(t.errs, errors.New("topology has no source"))...)
	}
	return errors.Join(t.errs...)
}

func (t *Topology) addSource(sd *sourceDef) {
	if _, ok := t.sources[sd.topic]; ok {
		t.fail(fmt.Errorf("topic %q is a source twice (read it once and share the stream)", sd.topic))
		return
	}
	t.sources[sd.topic] = sd
}

func (t *Topology) addStore(name string, n *node) {
	switch {
	case name == "":
		t.fail(fmt.Errorf("%s: empty store name", n.name()))
	case strings.ContainsAny(name, "/\\ \x00"):
		t.fail(fmt.Errorf("%s: store name %q has a path separator, space or NUL", n.name(), name))
	case t.stores[name] != nil:
		t.fail(fmt.Errorf("%s: store %q already used by %s", n.name(), name, t.stores[name].node.name()))
	default:
		t.stores[name] = &storeDef{name: name, node: n}
		n.store = name
	}
}

// subtopologies groups the source topics into connected parts: topics
// whose records meet in one node (a join, a merge) are one part, and one
// task per partition runs each part. It returns the parts in a stable
// order (by their first source's creation), each sorted.
func (t *Topology) subtopologies() [][]string {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if parent[x] == x {
			return x
		}
		parent[x] = find(parent[x])
		return parent[x]
	}
	for tp := range t.sources {
		parent[tp] = tp
	}
	for _, n := range t.nodes {
		for _, tp := range n.topics[min(1, len(n.topics)):] {
			parent[find(tp)] = find(n.topics[0])
		}
	}
	groups := map[string][]string{}
	for tp := range t.sources {
		r := find(tp)
		groups[r] = append(groups[r], tp)
	}
	var out [][]string
	for _, g := range groups {
		sort.Strings(g)
		out = append(out, g)
	}
	first := func(g []string) int {
		m := len(t.nodes)
		for _, tp := range g {
			m = min(m, t.sources[tp].node.id)
		}
		return m
	}
	sort.Slice(out, func(i, j int) bool { return first(out[i]) < first(out[j]) })
	return out
}

// Describe returns the topology as text: each subtopology with its
// source topics, then its processors in creation order with their
// parents, stores and sink topics. Internal topics are named as the app
// with id appID names them.
func (t *Topology) Describe(appID string) string {
	var b strings.Builder
	subOf := map[string]int{}
	for i, g := range t.subtopologies() {
		for _, tp := range g {
			subOf[tp] = i
		}
	}
	for i, g := range t.subtopologies() {
		phys := make([]string, len(g))
		for j, tp := range g {
			phys[j] = t.physical(appID, tp)
		}
		fmt.Fprintf(&b, "Sub-topology %d: sources [%s]\n", i, strings.Join(phys, ", "))
		for _, n := range t.nodes {
			if len(n.topics) == 0 || subOf[n.topics[0]] != i {
				continue
			}
			b.WriteString("  " + t.describeNode(appID, n) + "\n")
		}
	}
	return b.String()
}

func (t *Topology) describeNode(appID string, n *node) string {
	s := n.name()
	if len(n.parents) > 0 {
		ps := make([]string, len(n.parents))
		for i, p := range n.parents {
			ps[i] = p.name()
		}
		s += " <- " + strings.Join(ps, ", ")
	} else if len(n.topics) == 1 {
		s += " <- topic " + t.physical(appID, n.topics[0])
	}
	if n.store != "" {
		s += fmt.Sprintf(" [store %s, changelog %s]", n.store, changelogTopic(appID, n.store))
	}
	if n.sink != "" {
		s += " -> topic " + t.physical(appID, n.sink)
	}
	return s
}

// physical is the topic name on the cluster for a logical source or sink.
func (t *Topology) physical(appID, logical string) string {
	if sd := t.sources[logical]; sd != nil && sd.internal {
		return appID + "-" + logical + "-repartition"
	}
	return logical
}

// changelogTopic is the compacted topic that backs store name.
func changelogTopic(appID, store string) string { return appID + "-" + store + "-changelog" }

// Dot returns the topology as a Graphviz digraph (for a console to draw):
// topics as boxes, processors as ellipses, stores as cylinders, one
// cluster per subtopology.
func (t *Topology) Dot(appID string) string {
	var b strings.Builder
	b.WriteString("digraph topology {\n  rankdir=LR;\n")
	subOf := map[string]int{}
	for i, g := range t.subtopologies() {
		for _, tp := range g {
			subOf[tp] = i
		}
	}
	for i := range t.subtopologies() {
		fmt.Fprintf(&b, "  subgraph cluster_%d {\n    label=\"sub-topology %d\";\n", i, i)
		for _, n := range t.nodes {
			if len(n.topics) > 0 && subOf[n.topics[0]] == i {
				fmt.Fprintf(&b, "    %q;\n", n.name())
			}
		}
		b.WriteString("  }\n")
	}
	for _, n := range t.nodes {
		for _, p := range n.parents {
			fmt.Fprintf(&b, "  %q -> %q;\n", p.name(), n.name())
		}
		if len(n.parents) == 0 && len(n.topics) == 1 {
			fmt.Fprintf(&b, "  %q [shape=box];\n  %q -> %q;\n", t.physical(appID, n.topics[0]), t.physical(appID, n.topics[0]), n.name())
		}
		if n.sink != "" {
			fmt.Fprintf(&b, "  %q [shape=box];\n  %q -> %q;\n", t.physical(appID, n.sink), n.name(), t.physical(appID, n.sink))
		}
		if n.store != "" {
			fmt.Fprintf(&b, "  %q [shape=cylinder];\n  %q -> %q [dir=both];\n", n.store, n.name(), n.store)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// Mermaid returns the topology as a Mermaid flowchart (for a console or
// a Markdown page to draw): one subgraph per subtopology, topics as
// parallelograms, processors as boxes, stores as cylinders.
func (t *Topology) Mermaid(appID string) string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	subs := t.subtopologies()
	subOf := map[string]int{}
	for i, g := range subs {
		for _, tp := range g {
			subOf[tp] = i
		}
	}
	for i := range subs {
		fmt.Fprintf(&b, "  subgraph sub%d[\"sub-topology %d\"]\n", i, i)
		for _, n := range t.nodes {
			if len(n.topics) > 0 && subOf[n.topics[0]] == i {
				fmt.Fprintf(&b, "    n%d[\"%s\"]\n", n.id, mermaidText(n.name()))
			}
		}
		b.WriteString("  end\n")
	}
	ids := map[string]string{} // topic or store -> its Mermaid id
	id := func(kind, name, shape string) string {
		if v, ok := ids[kind+name]; ok {
			return v
		}
		v := fmt.Sprintf("%s%d", kind, len(ids))
		ids[kind+name] = v
		fmt.Fprintf(&b, "  %s%s\n", v, fmt.Sprintf(shape, mermaidText(name)))
		return v
	}
	for _, n := range t.nodes {
		for _, p := range n.parents {
			fmt.Fprintf(&b, "  n%d --> n%d\n", p.id, n.id)
		}
		if len(n.parents) == 0 && len(n.topics) == 1 {
			fmt.Fprintf(&b, "  %s --> n%d\n", id("t", t.physical(appID, n.topics[0]), `[/"%s"/]`), n.id)
		}
		if n.sink != "" {
			fmt.Fprintf(&b, "  n%d --> %s\n", n.id, id("t", t.physical(appID, n.sink), `[/"%s"/]`))
		}
		if n.store != "" {
			fmt.Fprintf(&b, "  n%d <--> %s\n", n.id, id("s", n.store, `[("%s")]`))
		}
	}
	return b.String()
}

// mermaidText escapes a label for a quoted Mermaid string.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;").Replace(s)
}

// topologyJSON is the topology as GET /topology?format=json answers it:
// a small, stable shape for a console to lay out and draw.
type topologyJSON struct {
	App   string     `json:"app"`
	Nodes []nodeJSON `json:"nodes"`
	Edges []edgeJSON `json:"edges"`
}

// nodeJSON is one node: a processor (kind is its operator: source, map,
// aggregate, sink, ...), a topic (kind "topic", "repartition-topic" or
// "changelog-topic") or a store (kind "store"). Sub is the processor's
// sub-topology, -1 for topics and stores.
type nodeJSON struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Sub  int    `json:"subtopology"`
}

// edgeJSON is data flowing from one node to another.
type edgeJSON struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// graph returns the topology's nodes and edges as JSON shapes: the same
// graph Dot and Mermaid draw, with each store's changelog topic added.
func (t *Topology) graph(appID string) topologyJSON {
	g := topologyJSON{App: appID, Nodes: []nodeJSON{}, Edges: []edgeJSON{}}
	subOf := map[string]int{}
	for i, sub := range t.subtopologies() {
		for _, tp := range sub {
			subOf[tp] = i
		}
	}
	seen := map[string]bool{}
	add := func(id, kind string, sub int) {
		if !seen[id] {
			seen[id] = true
			g.Nodes = append(g.Nodes, nodeJSON{ID: id, Kind: kind, Sub: sub})
		}
	}
	topicKind := func(logical string) string {
		if sd := t.sources[logical]; sd != nil && sd.internal {
			return "repartition-topic"
		}
		return "topic"
	}
	edge := func(from, to string) { g.Edges = append(g.Edges, edgeJSON{From: from, To: to}) }
	for _, n := range t.nodes {
		sub := -1
		if len(n.topics) > 0 {
			sub = subOf[n.topics[0]]
		}
		add(n.name(), n.kind, sub)
	}
	for _, n := range t.nodes {
		for _, p := range n.parents {
			edge(p.name(), n.name())
		}
		if len(n.parents) == 0 && len(n.topics) == 1 {
			tp := t.physical(appID, n.topics[0])
			add(tp, topicKind(n.topics[0]), -1)
			edge(tp, n.name())
		}
		if n.sink != "" {
			tp := t.physical(appID, n.sink)
			add(tp, topicKind(n.sink), -1)
			edge(n.name(), tp)
		}
		if n.store != "" {
			add(n.store, "store", -1)
			edge(n.name(), n.store)
			cl := changelogTopic(appID, n.store)
			add(cl, "changelog-topic", -1)
			edge(n.store, cl)
		}
	}
	return g
}

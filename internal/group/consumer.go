package group

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// This file is the KIP-848 ("consumer" protocol) group: the broker assigns
// partitions and hands them over incrementally. A partition moves in two
// steps: its owner is first told to drop it (same member epoch), and only
// once the owner's heartbeat no longer lists it is it given to the new
// owner, whose epoch then advances. No partition is ever owned twice.

// TopicInfo is what the assignor needs of a topic.
type TopicInfo struct {
	ID         [16]byte
	Partitions int32
}

// TopicLookup resolves a subscribed topic name; it must not block.
type TopicLookup func(name string) (TopicInfo, bool)

// TopicPartitions is a set of partitions of one topic, by id.
type TopicPartitions struct {
	TopicID    [16]byte
	Partitions []int32
}

// ConsumerConfig configures consumer-protocol groups.
type ConsumerConfig struct {
	Session           time.Duration // group.consumer.session.timeout.ms; default 45s
	HeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms; default 5s
	NewMemberID       func(clientID string) string
	// Timeouts, when set, returns a group's own session timeout and
	// heartbeat interval (its KIP-848 group configs, else the
	// defaults); it must not block. Each heartbeat reads it, so a
	// change applies to the next one. Nil: Session and HeartbeatInterval.
	Timeouts func(group string) (session, heartbeat time.Duration)
	// TopicNames lists every topic, for members that subscribe by
	// regular expression; it must not block. The coordinator sets it;
	// nil matches no topic.
	TopicNames func() []string
}

// CHeartbeat is a ConsumerGroupHeartbeat request.
type CHeartbeat struct {
	Token                Token
	MemberID             string
	MemberEpoch          int32 // 0 joins, -1 leaves, -2 leaves (static)
	InstanceID, RackID   string
	ClientID, ClientHost string
	Rebalance            time.Duration
	Subscribed           []string          // nil: unchanged
	SubscribedRegex      *string           // RE2, matched against whole topic names; nil: unchanged, "": none
	Owned                []TopicPartitions // nil: unchanged
}

// CResult answers a CHeartbeat.
type CResult struct {
	Err               *kerr.Error
	MemberID          string
	Epoch             int32
	HeartbeatInterval time.Duration
	Assignment        []TopicPartitions // nil: unchanged
}

// CCommitCheck asks whether an OffsetCommit from a consumer-protocol
// member may be stored.
type CCommitCheck struct {
	Token    Token
	MemberID string
	Epoch    int32
}

type tp struct {
	id [16]byte
	p  int32
}

type cmember struct {
	id, instanceID, rack string
	clientID, clientHost string
	subscribed           []string
	regex                string         // as the member sent it; "" for none
	re                   *regexp.Regexp // regex anchored to whole names; nil for none
	// topics is subscribed plus the topic names re matches, sorted, as
	// maybeAssign last resolved them; the assignor reads it.
	topics           []string
	rebalance        time.Duration
	epoch, prevEpoch int32
	seq              int
	deadline         time.Time // session expiry
	// assigned is what the member was last told it owns; revoking is what
	// it was told to drop and has not yet confirmed dropping.
	// Invariant: assigned and revoking are disjoint, and no partition is
	// in the assigned or revoking set of two members.
	assigned, revoking map[tp]bool
	revokeBy           time.Time // fenced if revoking is not empty by then
}

// ConsumerGroup is the KIP-848 state machine of one group; like Group it
// does no I/O and is stepped by one goroutine.
type ConsumerGroup struct {
	ID     string
	cfg    ConsumerConfig
	topics TopicLookup

	epoch       int32 // group epoch: bumped by membership and subscription changes
	assignEpoch int32 // epoch of target
	members     map[string]*cmember
	static      map[string]string
	target      map[string]map[tp]bool
	meta        string // the subscribed topics' metadata the target was computed from
	seq, idSeq  int
}

// NewConsumer returns an empty consumer-protocol group.
func NewConsumer(id string, cfg ConsumerConfig, topics TopicLookup) *ConsumerGroup {
	if cfg.Session <= 0 {
		cfg.Session = 45 * time.Second
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 5 * time.Second
	}
	return &ConsumerGroup{ID: id, cfg: cfg, topics: topics, members: map[string]*cmember{},
		static: map[string]string{}, target: map[string]map[tp]bool{}}
}

// timeouts is the group's session timeout and heartbeat interval.
func (g *ConsumerGroup) timeouts() (session, heartbeat time.Duration) {
	if g.cfg.Timeouts != nil {
		return g.cfg.Timeouts(g.ID)
	}
	return g.cfg.Session, g.cfg.HeartbeatInterval
}

// Len is the number of members.
func (g *ConsumerGroup) Len() int { return len(g.members) }

// Step applies one event (CHeartbeat, CCommitCheck or Tick).
func (g *ConsumerGroup) Step(now time.Time, ev any) []any {
	var out effects
	switch ev := ev.(type) {
	case CHeartbeat:
		out.reply(ev.Token, g.heartbeat(now, ev))
	case CCommitCheck:
		out.reply(ev.Token, g.commitCheck(ev))
	case Tick:
		g.tick(now)
	default:
		panic("group: unknown consumer group event")
	}
	return out
}

// NextDeadline is the earliest session or revocation deadline.
func (g *ConsumerGroup) NextDeadline() (time.Time, bool) {
	var next time.Time
	for _, m := range g.members {
		for _, t := range []time.Time{m.deadline, m.revokeBy} {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next, !next.IsZero()
}

func (g *ConsumerGroup) tick(now time.Time) {
	for _, m := range g.sorted() {
		if !now.Before(m.deadline) || len(m.revoking) > 0 && !m.revokeBy.IsZero() && !now.Before(m.revokeBy) {
			g.remove(m)
		}
	}
}

func (g *ConsumerGroup) remove(m *cmember) {
	delete(g.members, m.id)
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	delete(g.target, m.id)
	g.epoch++
}

func (g *ConsumerGroup) sorted() []*cmember {
	ms := make([]*cmember, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *cmember) int { return a.seq - b.seq })
	return ms
}

func (g *ConsumerGroup) heartbeat(now time.Time, ev CHeartbeat) CResult {
	fail := func(err *kerr.Error) CResult { return CResult{Err: err, MemberID: ev.MemberID, Epoch: ev.MemberEpoch} }
	switch {
	case ev.MemberEpoch < -2:
		return fail(kerr.InvalidRequest)
	case ev.MemberEpoch < 0:
		id := ev.MemberID
		if ev.InstanceID != "" && g.static[ev.InstanceID] != "" {
			id = g.static[ev.InstanceID]
		}
		if m := g.members[id]; m != nil {
			g.remove(m)
		}
		return CResult{MemberID: ev.MemberID, Epoch: ev.MemberEpoch}
	}
	m := g.members[ev.MemberID]
	joined := false
	var re *regexp.Regexp
	if ev.SubscribedRegex != nil && *ev.SubscribedRegex != "" {
		var err error
		if re, err = regexp.Compile(`^(?:` + *ev.SubscribedRegex + `)$`); err != nil {
			return fail(kerr.InvalidRegularExpression)
		}
	}
	if ev.MemberEpoch == 0 {
		if ev.Subscribed == nil && ev.SubscribedRegex == nil {
			return fail(kerr.InvalidRequest)
		}
		joined = g.members[ev.MemberID] == nil
		m = g.join(now, ev)
	} else {
		switch {
		case m == nil:
			return fail(kerr.UnknownMemberID)
		case ev.MemberEpoch != m.epoch && ev.MemberEpoch != m.prevEpoch:
			return fail(kerr.FencedMemberEpoch)
		}
	}
	session, _ := g.timeouts()
	m.deadline = now.Add(session)
	if ev.Rebalance > 0 {
		m.rebalance = ev.Rebalance
	}
	if ev.Subscribed != nil && !slices.Equal(sortedCopy(ev.Subscribed), m.subscribed) {
		m.subscribed = sortedCopy(ev.Subscribed)
		joined = true
	}
	if ev.SubscribedRegex != nil && *ev.SubscribedRegex != m.regex {
		m.regex, m.re = *ev.SubscribedRegex, re
		joined = true
	}
	if joined {
		g.epoch++ // one bump for a join with its subscription
	}
	if ev.Owned != nil {
		g.released(m, ev.Owned)
	}
	g.maybeAssign()
	g.reconcile(now, m)
	_, hb := g.timeouts()
	return CResult{MemberID: m.id, Epoch: m.epoch, HeartbeatInterval: hb, Assignment: toTopicPartitions(m.assigned)}
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// join adds a member, or takes an existing one back after a lost
// response; a static member replaces its instance's previous member.
func (g *ConsumerGroup) join(now time.Time, ev CHeartbeat) *cmember {
	id := ev.MemberID
	if id == "" {
		if g.cfg.NewMemberID != nil {
			id = g.cfg.NewMemberID(ev.ClientID)
		} else {
			g.idSeq++
			id = "consumer-" + itoaPad(g.idSeq)
		}
	}
	if m := g.members[id]; m != nil {
		return m
	}
	var inherit *cmember
	if ev.InstanceID != "" {
		if old := g.members[g.static[ev.InstanceID]]; old != nil {
			inherit = old
			g.remove(old)
		}
		g.static[ev.InstanceID] = id
	}
	g.seq++
	m := &cmember{id: id, instanceID: ev.InstanceID, rack: ev.RackID, clientID: ev.ClientID, clientHost: ev.ClientHost,
		seq: g.seq, rebalance: ev.Rebalance, assigned: map[tp]bool{}, revoking: map[tp]bool{}}
	if inherit != nil {
		// A restarted static member keeps what it had (KIP-345).
		m.assigned = inherit.assigned
	}
	g.members[id] = m
	return m
}

func itoaPad(n int) string {
	s := []byte("00000000")
	for i := len(s) - 1; n > 0 && i >= 0; i-- {
		s[i] = byte('0' + n%10)
		n /= 10
	}
	return string(s)
}

// released drops from m's revoking set what its heartbeat no longer
// reports as owned.
func (g *ConsumerGroup) released(m *cmember, owned []TopicPartitions) {
	has := map[tp]bool{}
	for _, t := range owned {
		for _, p := range t.Partitions {
			has[tp{t.TopicID, p}] = true
		}
	}
	for p := range m.revoking {
		if !has[p] {
			delete(m.revoking, p)
		}
	}
	if len(m.revoking) == 0 {
		m.revokeBy = time.Time{}
	}
}

// maybeAssign recomputes the target assignment when the group epoch or
// the subscribed topics' partition counts changed.
func (g *ConsumerGroup) maybeAssign() {
	g.resolve()
	subs := map[string]bool{}
	for _, m := range g.members {
		for _, t := range m.topics {
			subs[t] = true
		}
	}
	names := make([]string, 0, len(subs))
	for t := range subs {
		names = append(names, t)
	}
	slices.Sort(names)
	var sig strings.Builder
	infos := map[string]TopicInfo{}
	for _, n := range names {
		if info, ok := g.topics(n); ok {
			infos[n] = info
			sig.WriteString(n + ":" + itoaPad(int(info.Partitions)) + ",")
		}
	}
	if g.assignEpoch == g.epoch && sig.String() == g.meta {
		return
	}
	if sig.String() != g.meta && g.assignEpoch == g.epoch {
		g.epoch++
	}
	g.meta = sig.String()
	g.target = uniformAssign(g.sorted(), names, infos, g.target)
	g.assignEpoch = g.epoch
}

// resolve sets each member's topics: its names and, when it subscribes by
// regex, every topic whose name the regex matches now, so that a topic
// created later joins the subscription at the next heartbeat (its name
// changes maybeAssign's signature, which recomputes the target).
func (g *ConsumerGroup) resolve() {
	var all []string
	for _, m := range g.members {
		if m.re == nil {
			m.topics = m.subscribed
			continue
		}
		if all == nil && g.cfg.TopicNames != nil {
			all = g.cfg.TopicNames()
		}
		topics := slices.Clone(m.subscribed)
		for _, n := range all {
			if m.re.MatchString(n) {
				topics = append(topics, n)
			}
		}
		m.topics = sortedCopy(topics)
	}
}

// reconcile moves m toward its target: first it is told to drop what it
// must give up; once it has, it gets what no other member still holds,
// and its epoch becomes the assignment epoch.
func (g *ConsumerGroup) reconcile(now time.Time, m *cmember) {
	target := g.target[m.id]
	var revoke []tp
	for p := range m.assigned {
		if !target[p] {
			revoke = append(revoke, p)
		}
	}
	if len(revoke) > 0 {
		for _, p := range revoke {
			delete(m.assigned, p)
			m.revoking[p] = true
		}
		_, hb := g.timeouts()
		m.revokeBy = now.Add(max(m.rebalance, hb*2))
		return
	}
	if len(m.revoking) > 0 {
		return
	}
	held := map[tp]bool{}
	for _, o := range g.members {
		if o == m {
			continue
		}
		for p := range o.assigned {
			held[p] = true
		}
		for p := range o.revoking {
			held[p] = true
		}
	}
	for p := range target {
		if !held[p] {
			m.assigned[p] = true
		}
	}
	if m.epoch != g.assignEpoch {
		m.prevEpoch, m.epoch = m.epoch, g.assignEpoch
	}
}

func toTopicPartitions(set map[tp]bool) []TopicPartitions {
	by := map[[16]byte][]int32{}
	for p := range set {
		by[p.id] = append(by[p.id], p.p)
	}
	out := make([]TopicPartitions, 0, len(by))
	for id, ps := range by {
		slices.Sort(ps)
		out = append(out, TopicPartitions{TopicID: id, Partitions: ps})
	}
	slices.SortFunc(out, func(a, b TopicPartitions) int { return strings.Compare(string(a.TopicID[:]), string(b.TopicID[:])) })
	return out
}

func (g *ConsumerGroup) commitCheck(ev CCommitCheck) *kerr.Error {
	if ev.MemberID == "" && ev.Epoch < 0 {
		if len(g.members) == 0 {
			return nil
		}
		return kerr.UnknownMemberID
	}
	m := g.members[ev.MemberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case ev.Epoch > m.epoch:
		return kerr.StaleMemberEpoch
	}
	return nil
}

// CDescription describes a consumer-protocol group.
type CDescription struct {
	State           string // empty, assigning, reconciling, stable
	Epoch           int32
	AssignmentEpoch int32
	Members         []CMemberDescription
}

// CMemberDescription is one member of a CDescription.
type CMemberDescription struct {
	ID, InstanceID, RackID string
	ClientID, ClientHost   string
	Epoch                  int32
	Subscribed             []string
	SubscribedRegex        string
	Assigned, Target       []TopicPartitions
}

// Describe describes the group.
func (g *ConsumerGroup) Describe() CDescription {
	d := CDescription{Epoch: g.epoch, AssignmentEpoch: g.assignEpoch, State: "stable"}
	switch {
	case len(g.members) == 0:
		d.State = "empty"
	case g.assignEpoch < g.epoch:
		d.State = "assigning"
	}
	for _, m := range g.sorted() {
		if d.State == "stable" && (m.epoch != g.assignEpoch || len(m.revoking) > 0 || len(m.assigned) != len(g.target[m.id])) {
			d.State = "reconciling"
		}
		d.Members = append(d.Members, CMemberDescription{
			ID: m.id, InstanceID: m.instanceID, RackID: m.rack, ClientID: m.clientID, ClientHost: m.clientHost,
			Epoch: m.epoch, Subscribed: m.subscribed, SubscribedRegex: m.regex,
			Assigned: toTopicPartitions(m.assigned), Target: toTopicPartitions(g.target[m.id]),
		})
	}
	return d
}

// SubscribedTopics returns the topics any member subscribes to.
func (g *ConsumerGroup) SubscribedTopics() map[string]bool {
	out := map[string]bool{}
	for _, m := range g.members {
		for _, t := range m.topics {
			out[t] = true
		}
	}
	return out
}

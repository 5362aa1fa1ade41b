package group

import (
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// State is a classic group's state.
type State int8

// The classic group states, as Kafka names them.
const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case PreparingRebalance:
		return "PreparingRebalance"
	case CompletingRebalance:
		return "CompletingRebalance"
	case Stable:
		return "Stable"
	case Dead:
		return "Dead"
	}
	return "Unknown"
}

// Config bounds what members may ask for.
type Config struct {
	MinSessionTimeout time.Duration // group.min.session.timeout.ms; default 6s
	MaxSessionTimeout time.Duration // group.max.session.timeout.ms; default 30m
	MaxSize           int           // group.max.size; default unlimited
	// MaxMetadataBytes bounds one member's protocol metadata (all its
	// protocols together); larger joins are refused. Default 1 MiB.
	MaxMetadataBytes int
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms: the first
	// join phase of an Empty group lasts at least this long, extended by
	// it at each new member up to the rebalance timeout, so members that
	// start together share one rebalance instead of one each. Zero is no
	// delay; the server's default (server.DefaultConfig, herald serve
	// --group-initial-rebalance-delay) is Kafka's 3s.
	InitialRebalanceDelay time.Duration
	// NewMemberID makes a member id for a client id; default
	// clientID-<n> with a per-group counter (the coordinator passes one
	// that adds a random part).
	NewMemberID func(clientID string) string
}

func (c *Config) defaults() {
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = 6 * time.Second
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.MaxSize <= 0 {
		c.MaxSize = 1 << 30
	}
	if c.MaxMetadataBytes <= 0 {
		c.MaxMetadataBytes = 1 << 20
	}
}

// Protocol is one protocol a member supports; Metadata passes through to
// the leader untouched.
type Protocol struct {
	Name     string
	Metadata []byte
}

// Token identifies the request an answer belongs to; the driver maps it to
// the waiting handler.
type Token uint64

// Events: the inputs to Step.
type (
	// Join is a JoinGroup request.
	Join struct {
		Token                Token
		MemberID, InstanceID string // InstanceID "": dynamic member
		ClientID, ClientHost string
		ProtocolType         string
		Protocols            []Protocol
		Session, Rebalance   time.Duration
		RequireKnownMemberID bool // v4+: MEMBER_ID_REQUIRED first
	}
	// Sync is a SyncGroup request; Assignments is set by the leader.
	Sync struct {
		Token                  Token
		MemberID, InstanceID   string
		Generation             int32
		ProtocolType, Protocol string // v5+; "" is not checked
		Assignments            map[string][]byte
	}
	// Heartbeat is a Heartbeat request.
	Heartbeat struct {
		Token                Token
		MemberID, InstanceID string
		Generation           int32
	}
	// Leave is one member of a LeaveGroup request.
	Leave struct {
		Token                Token
		MemberID, InstanceID string
	}
	// CommitCheck asks whether an OffsetCommit from this member and
	// generation may be stored.
	CommitCheck struct {
		Token                Token
		MemberID, InstanceID string
		Generation           int32
	}
	// Tick advances time: expired sessions and rebalance deadlines fire.
	Tick struct{}
	// Delete is DeleteGroups: only an Empty group may be deleted.
	Delete struct{ Token Token }
)

// Effects: the outputs of Step.
type (
	// Reply answers the request with Token. Resp is a JoinResult,
	// SyncResult or *kerr.Error (nil: success) for the other events.
	Reply struct {
		Token Token
		Resp  any
	}
	// Persist asks for the group's metadata record to be written; Meta is
	// nil for a tombstone (the group was deleted).
	Persist struct{ Meta *Snapshot }
)

// JoinResult answers a Join.
type JoinResult struct {
	Err          *kerr.Error
	Generation   int32
	ProtocolType string
	Protocol     string
	Leader       string
	MemberID     string
	Members      []JoinMember // the leader's only
}

// JoinMember is a member as the leader sees it.
type JoinMember struct {
	MemberID, InstanceID string
	Metadata             []byte
}

// SyncResult answers a Sync.
type SyncResult struct {
	Err          *kerr.Error
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

// member is one member of a classic group.
type member struct {
	id, instanceID       string
	clientID, clientHost string
	protocols            []Protocol
	session, rebalance   time.Duration
	seq                  int       // join order: the earliest joined leads
	deadline             time.Time // session expiry, renewed by requests
	joinToken            Token     // valid while awaitingJoin
	awaitingJoin         bool
	syncToken            Token // valid while awaitingSync
	awaitingSync         bool
	assignment           []byte
}

// Group is the classic protocol state machine of one group. It does no
// I/O and takes no locks: one goroutine calls Step.
type Group struct {
	ID  string
	cfg Config

	state        State
	generation   int32
	protocolType string
	protocol     string // chosen at the end of each join phase
	leader       string
	since        time.Time // when state was entered

	// members holds every joined member; static maps instance id to
	// member id. Invariant: static[m.instanceID] == m.id for every m
	// with an instance id.
	members map[string]*member
	static  map[string]string
	// pending holds member ids handed out with MEMBER_ID_REQUIRED, with
	// when they expire if the member does not join again.
	pending map[string]time.Time
	seq     int
	idSeq   int

	// rebalanceAt ends the join phase (PreparingRebalance); syncAt ends
	// the wait for the leader's SyncGroup (CompletingRebalance).
	rebalanceAt time.Time
	syncAt      time.Time
	// delayUntil holds the join phase open after an Empty group's first
	// join: InitialRebalanceDelay after the latest new member. Zero when
	// not delaying. Invariant: zero or at most rebalanceAt.
	delayUntil time.Time
}

// New returns an Empty group.
func New(id string, cfg Config) *Group {
	cfg.defaults()
	return &Group{ID: id, cfg: cfg, members: map[string]*member{}, static: map[string]string{}, pending: map[string]time.Time{}}
}

// State is the group's state.
func (g *Group) State() State { return g.state }

// Generation is the group's generation.
func (g *Group) Generation() int32 { return g.generation }

// ProtocolType is the protocol type of the members ("" with none yet).
func (g *Group) ProtocolType() string { return g.protocolType }

// Len is the number of members.
func (g *Group) Len() int { return len(g.members) }

// Step applies one event at time now and returns what must happen as a
// result, in order: Reply and Persist values.
func (g *Group) Step(now time.Time, ev any) []any {
	var out effects
	switch ev := ev.(type) {
	case Join:
		g.stepJoin(now, ev, &out)
	case Sync:
		g.stepSync(now, ev, &out)
	case Heartbeat:
		out.reply(ev.Token, g.stepHeartbeat(now, ev))
	case Leave:
		err := g.stepLeave(now, ev, &out)
		out.reply(ev.Token, err)
	case CommitCheck:
		out.reply(ev.Token, g.stepCommitCheck(now, ev))
	case Tick:
		g.stepTick(now, &out)
	case Delete:
		g.stepDelete(ev, &out)
	default:
		panic("group: unknown event")
	}
	return out
}

type effects []any

func (e *effects) reply(t Token, resp any) { *e = append(*e, Reply{Token: t, Resp: resp}) }

// NextDeadline is the earliest time a Tick may change something.
func (g *Group) NextDeadline() (time.Time, bool) {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, m := range g.members {
		if !m.awaitingJoin && !m.awaitingSync {
			consider(m.deadline)
		}
	}
	for _, t := range g.pending {
		consider(t)
	}
	switch g.state {
	case PreparingRebalance:
		consider(g.rebalanceAt)
		consider(g.delayUntil)
	case CompletingRebalance:
		consider(g.syncAt)
	}
	return next, !next.IsZero()
}

func (g *Group) become(now time.Time, s State) {
	g.state = s
	g.since = now
}

func (g *Group) newMemberID(clientID string) string {
	if g.cfg.NewMemberID != nil {
		return g.cfg.NewMemberID(clientID)
	}
	g.idSeq++
	if clientID == "" {
		clientID = "member"
	}
	return clientID + "-" + strconv.Itoa(g.idSeq)
}

// sortedMembers returns the members in join order.
func (g *Group) sortedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *member) int { return a.seq - b.seq })
	return ms
}

// ---- JoinGroup ----

func (g *Group) stepJoin(now time.Time, ev Join, out *effects) {
	fail := func(err *kerr.Error) {
		out.reply(ev.Token, JoinResult{Err: err, MemberID: ev.MemberID, Generation: -1})
	}
	if err := g.checkJoin(ev); err != nil {
		fail(err)
		return
	}
	if ev.MemberID == "" {
		g.joinUnknown(now, ev, out)
		return
	}
	if _, ok := g.pending[ev.MemberID]; ok {
		delete(g.pending, ev.MemberID)
		g.addMember(now, ev.MemberID, ev, out)
		return
	}
	if ev.InstanceID != "" {
		if id, ok := g.static[ev.InstanceID]; ok && id != ev.MemberID {
			fail(kerr.FencedInstanceID)
			return
		}
	}
	m := g.members[ev.MemberID]
	if m == nil {
		fail(kerr.UnknownMemberID)
		return
	}
	g.joinKnown(now, m, ev, out)
}

// checkJoin validates what does not depend on the member.
func (g *Group) checkJoin(ev Join) *kerr.Error {
	switch {
	case g.state == Dead:
		return kerr.CoordinatorNotAvailable
	case ev.Session < g.cfg.MinSessionTimeout || ev.Session > g.cfg.MaxSessionTimeout:
		return kerr.InvalidSessionTimeout
	case ev.ProtocolType == "" || len(ev.Protocols) == 0:
		return kerr.InconsistentGroupProtocol
	}
	size := 0
	for _, p := range ev.Protocols {
		size += len(p.Name) + len(p.Metadata)
	}
	if size > g.cfg.MaxMetadataBytes {
		return kerr.InvalidRequest
	}
	if len(g.members) > 0 {
		if ev.ProtocolType != g.protocolType || len(g.candidates(ev.Protocols, ev.MemberID)) == 0 {
			return kerr.InconsistentGroupProtocol
		}
	}
	return nil
}

// candidates returns the protocols of ps that every member but except
// supports.
func (g *Group) candidates(ps []Protocol, except string) []string {
	var out []string
	for _, p := range ps {
		all := true
		for _, m := range g.members {
			if m.id != except && !slices.ContainsFunc(m.protocols, func(q Protocol) bool { return q.Name == p.Name }) {
				all = false
				break
			}
		}
		if all {
			out = append(out, p.Name)
		}
	}
	return out
}

func (g *Group) joinUnknown(now time.Time, ev Join, out *effects) {
	if ev.InstanceID != "" {
		if old, ok := g.static[ev.InstanceID]; ok {
			g.replaceStatic(now, g.members[old], ev, out)
			return
		}
		g.addMember(now, g.newMemberID(ev.ClientID), ev, out)
		return
	}
	id := g.newMemberID(ev.ClientID)
	if ev.RequireKnownMemberID {
		if len(g.members)+len(g.pending) >= g.cfg.MaxSize {
			out.reply(ev.Token, JoinResult{Err: kerr.GroupMaxSizeReached, Generation: -1})
			return
		}
		g.pending[id] = now.Add(ev.Session)
		out.reply(ev.Token, JoinResult{Err: kerr.MemberIDRequired, MemberID: id, Generation: -1})
		return
	}
	g.addMember(now, id, ev, out)
}

func (g *Group) addMember(now time.Time, id string, ev Join, out *effects) {
	if len(g.members) >= g.cfg.MaxSize {
		out.reply(ev.Token, JoinResult{Err: kerr.GroupMaxSizeReached, MemberID: id, Generation: -1})
		return
	}
	if len(g.members) == 0 {
		g.protocolType = ev.ProtocolType
	}
	g.seq++
	m := &member{id: id, seq: g.seq}
	g.members[id] = m
	if ev.InstanceID != "" {
		g.static[ev.InstanceID] = id
	}
	g.updateMember(now, m, ev, out)
	g.prepareRebalance(now, out)
	if !g.delayUntil.IsZero() { // a new member extends the initial delay
		g.delayUntil = minTime(now.Add(g.cfg.InitialRebalanceDelay), g.rebalanceAt)
	}
	g.maybeCompleteJoin(now, out)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (g *Group) updateMember(now time.Time, m *member, ev Join, out *effects) {
	m.instanceID, m.clientID, m.clientHost = ev.InstanceID, ev.ClientID, ev.ClientHost
	m.protocols = ev.Protocols
	m.session, m.rebalance = ev.Session, ev.Rebalance
	m.deadline = now.Add(m.session)
	if m.awaitingJoin && m.joinToken != ev.Token {
		// A second join from the same member replaces the first;
		// the first's connection gets an error, not silence.
		out.reply(m.joinToken, JoinResult{Err: kerr.UnknownMemberID, Generation: -1})
	}
	m.joinToken, m.awaitingJoin = ev.Token, true
}

// replaceStatic gives a static member's instance a new member id: the old
// id is fenced. A Stable group whose chosen protocol's metadata did not
// change keeps its assignment and generation (no rebalance).
func (g *Group) replaceStatic(now time.Time, m *member, ev Join, out *effects) {
	newID := g.newMemberID(ev.ClientID)
	if m.awaitingJoin {
		out.reply(m.joinToken, JoinResult{Err: kerr.FencedInstanceID, MemberID: m.id, Generation: -1})
		m.awaitingJoin = false
	}
	if m.awaitingSync {
		out.reply(m.syncToken, SyncResult{Err: kerr.FencedInstanceID})
		m.awaitingSync = false
	}
	oldMeta, _ := protocolMeta(m.protocols, g.protocol)
	delete(g.members, m.id)
	if g.leader == m.id {
		g.leader = newID
	}
	m.id = newID
	g.members[newID] = m
	g.static[ev.InstanceID] = newID
	newMeta, ok := protocolMeta(ev.Protocols, g.protocol)
	if g.state == Stable && ok && string(oldMeta) == string(newMeta) {
		m.clientID, m.clientHost = ev.ClientID, ev.ClientHost
		m.protocols, m.session, m.rebalance = ev.Protocols, ev.Session, ev.Rebalance
		m.deadline = now.Add(m.session)
		out.reply(ev.Token, g.joinResult(m))
		g.persist(now, out)
		return
	}
	g.updateMember(now, m, ev, out)
	g.prepareRebalance(now, out)
	g.maybeCompleteJoin(now, out)
}

func protocolMeta(ps []Protocol, name string) ([]byte, bool) {
	for _, p := range ps {
		if p.Name == name {
			return p.Metadata, true
		}
	}
	return nil, false
}

func (g *Group) joinKnown(now time.Time, m *member, ev Join, out *effects) {
	changed := !slices.EqualFunc(m.protocols, ev.Protocols, func(a, b Protocol) bool {
		return a.Name == b.Name && string(a.Metadata) == string(b.Metadata)
	})
	switch g.state {
	case PreparingRebalance:
		g.updateMember(now, m, ev, out)
		g.maybeCompleteJoin(now, out)
	case CompletingRebalance:
		if !changed {
			// The join response was lost: send it again.
			m.deadline = now.Add(m.session)
			out.reply(ev.Token, g.joinResult(m))
			return
		}
		g.updateMember(now, m, ev, out)
		g.prepareRebalance(now, out)
	case Stable:
		if m.id == g.leader || changed {
			g.updateMember(now, m, ev, out)
			g.prepareRebalance(now, out)
			g.maybeCompleteJoin(now, out)
			return
		}
		m.deadline = now.Add(m.session)
		out.reply(ev.Token, g.joinResult(m))
	default:
		out.reply(ev.Token, JoinResult{Err: kerr.UnknownMemberID, MemberID: ev.MemberID, Generation: -1})
	}
}

// joinResult is the answer for m in the current generation.
func (g *Group) joinResult(m *member) JoinResult {
	res := JoinResult{
		Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol,
		Leader: g.leader, MemberID: m.id,
	}
	if m.id == g.leader {
		for _, o := range g.sortedMembers() {
			meta, _ := protocolMeta(o.protocols, g.protocol)
			res.Members = append(res.Members, JoinMember{MemberID: o.id, InstanceID: o.instanceID, Metadata: meta})
		}
	}
	return res
}

// prepareRebalance starts a join phase (from Empty, CompletingRebalance or
// Stable); pending syncs are answered REBALANCE_IN_PROGRESS.
func (g *Group) prepareRebalance(now time.Time, out *effects) {
	if g.state == PreparingRebalance {
		return
	}
	if g.state == CompletingRebalance {
		for _, m := range g.sortedMembers() {
			if m.awaitingSync {
				out.reply(m.syncToken, SyncResult{Err: kerr.RebalanceInProgress})
				m.awaitingSync = false
			}
		}
	}
	var timeout time.Duration
	for _, m := range g.members {
		timeout = max(timeout, m.rebalance)
	}
	g.rebalanceAt = now.Add(timeout)
	if g.state == Empty && g.cfg.InitialRebalanceDelay > 0 {
		g.delayUntil = minTime(now.Add(g.cfg.InitialRebalanceDelay), g.rebalanceAt)
	}
	g.become(now, PreparingRebalance)
}

// maybeCompleteJoin ends the join phase once every member has joined again
// and no member id handed out is still expected.
func (g *Group) maybeCompleteJoin(now time.Time, out *effects) {
	if g.state != PreparingRebalance || now.Before(g.delayUntil) {
		return
	}
	for _, m := range g.members {
		if !m.awaitingJoin {
			return
		}
	}
	if len(g.pending) > 0 {
		return
	}
	g.completeJoin(now, out)
}

// completeJoin ends the join phase: members that did not join are
// removed, the generation advances and every joined member is answered.
func (g *Group) completeJoin(now time.Time, out *effects) {
	g.delayUntil = time.Time{}
	for _, m := range g.sortedMembers() {
		if !m.awaitingJoin {
			g.removeMember(m)
		}
	}
	clear(g.pending)
	g.generation++
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.become(now, Empty)
		g.persist(now, out)
		return
	}
	g.protocol = g.selectProtocol()
	if g.members[g.leader] == nil {
		g.leader = g.sortedMembers()[0].id
	}
	var sync time.Duration
	for _, m := range g.members {
		sync = max(sync, m.rebalance)
		m.assignment = nil
	}
	g.syncAt = now.Add(sync)
	g.become(now, CompletingRebalance)
	for _, m := range g.sortedMembers() {
		m.deadline = now.Add(m.session)
		out.reply(m.joinToken, g.joinResult(m))
		m.awaitingJoin = false
	}
}

// selectProtocol picks the protocol every member supports that most
// members prefer: each votes for its first supported candidate. Ties go
// to the candidate listed first by the earliest member.
func (g *Group) selectProtocol() string {
	ms := g.sortedMembers()
	cands := g.candidates(ms[0].protocols, "")
	votes := map[string]int{}
	for _, m := range ms {
		for _, p := range m.protocols {
			if slices.Contains(cands, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range cands {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

// removeMember drops m from the maps.
func (g *Group) removeMember(m *member) {
	delete(g.members, m.id)
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
	}
}

// ---- SyncGroup ----

func (g *Group) stepSync(now time.Time, ev Sync, out *effects) {
	m, err := g.checkMember(ev.MemberID, ev.InstanceID)
	switch {
	case err != nil:
	case ev.Generation != g.generation:
		err = kerr.IllegalGeneration
	case ev.ProtocolType != "" && ev.ProtocolType != g.protocolType,
		ev.Protocol != "" && ev.Protocol != g.protocol:
		err = kerr.InconsistentGroupProtocol
	case g.state == PreparingRebalance:
		err = kerr.RebalanceInProgress
	}
	if err != nil {
		out.reply(ev.Token, SyncResult{Err: err})
		return
	}
	m.deadline = now.Add(m.session)
	if g.state == Stable {
		out.reply(ev.Token, g.syncResult(m))
		return
	}
	// CompletingRebalance: wait for the leader's assignment.
	if m.awaitingSync {
		out.reply(m.syncToken, SyncResult{Err: kerr.RebalanceInProgress})
	}
	m.syncToken, m.awaitingSync = ev.Token, true
	if m.id != g.leader {
		return
	}
	for _, o := range g.members {
		o.assignment = ev.Assignments[o.id]
	}
	g.become(now, Stable)
	g.persist(now, out)
	for _, o := range g.sortedMembers() {
		if o.awaitingSync {
			o.awaitingSync = false
			o.deadline = now.Add(o.session)
			out.reply(o.syncToken, g.syncResult(o))
		}
	}
}

func (g *Group) syncResult(m *member) SyncResult {
	return SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment}
}

// checkMember finds the member a request names.
func (g *Group) checkMember(memberID, instanceID string) (*member, *kerr.Error) {
	if g.state == Dead {
		return nil, kerr.CoordinatorNotAvailable
	}
	if instanceID != "" {
		if id, ok := g.static[instanceID]; ok && id != memberID {
			return nil, kerr.FencedInstanceID
		}
	}
	m := g.members[memberID]
	if m == nil || g.state == Empty {
		return nil, kerr.UnknownMemberID
	}
	return m, nil
}

// ---- Heartbeat, LeaveGroup, OffsetCommit checks ----

func (g *Group) stepHeartbeat(now time.Time, ev Heartbeat) *kerr.Error {
	m, err := g.checkMember(ev.MemberID, ev.InstanceID)
	if err != nil {
		return err
	}
	if ev.Generation != g.generation {
		return kerr.IllegalGeneration
	}
	m.deadline = now.Add(m.session)
	if g.state == PreparingRebalance {
		return kerr.RebalanceInProgress
	}
	return nil
}

func (g *Group) stepLeave(now time.Time, ev Leave, out *effects) *kerr.Error {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	id := ev.MemberID
	if ev.InstanceID != "" {
		sid, ok := g.static[ev.InstanceID]
		if !ok {
			return kerr.UnknownMemberID
		}
		if id != "" && sid != id {
			return kerr.FencedInstanceID
		}
		id = sid
	}
	if _, ok := g.pending[id]; ok {
		delete(g.pending, id)
		g.maybeCompleteJoin(now, out)
		return nil
	}
	m := g.members[id]
	if m == nil {
		return kerr.UnknownMemberID
	}
	g.memberGone(now, m, out)
	return nil
}

// memberGone removes a member that left or expired and starts or finishes
// a rebalance as the state requires.
func (g *Group) memberGone(now time.Time, m *member, out *effects) {
	if m.awaitingJoin {
		out.reply(m.joinToken, JoinResult{Err: kerr.UnknownMemberID, Generation: -1})
		m.awaitingJoin = false
	}
	if m.awaitingSync {
		out.reply(m.syncToken, SyncResult{Err: kerr.UnknownMemberID})
		m.awaitingSync = false
	}
	g.removeMember(m)
	switch g.state {
	case Stable, CompletingRebalance:
		g.prepareRebalance(now, out)
		g.maybeCompleteJoin(now, out)
	case PreparingRebalance:
		g.maybeCompleteJoin(now, out)
	}
}

// stepCommitCheck follows Kafka: a commit without a member (generation
// -1) is only for a group with no members; otherwise the member and
// generation must be current. Commits are allowed while the group
// prepares a rebalance, so that eager members can commit what they
// processed before giving their partitions up.
func (g *Group) stepCommitCheck(now time.Time, ev CommitCheck) *kerr.Error {
	if ev.Generation < 0 && ev.MemberID == "" {
		if len(g.members) == 0 {
			return nil
		}
		return kerr.UnknownMemberID
	}
	m, err := g.checkMember(ev.MemberID, ev.InstanceID)
	if err != nil {
		return err
	}
	if ev.Generation != g.generation {
		return kerr.IllegalGeneration
	}
	if g.state == CompletingRebalance {
		return kerr.RebalanceInProgress
	}
	m.deadline = now.Add(m.session)
	return nil
}

// ---- timers and deletion ----

func (g *Group) stepTick(now time.Time, out *effects) {
	for id, t := range g.pending {
		if !now.Before(t) {
			delete(g.pending, id)
		}
	}
	for _, m := range g.sortedMembers() {
		if !m.awaitingJoin && !m.awaitingSync && !now.Before(m.deadline) && g.members[m.id] == m {
			g.memberGone(now, m, out)
		}
	}
	switch g.state {
	case PreparingRebalance:
		if !now.Before(g.delayUntil) {
			g.delayUntil = time.Time{} // else NextDeadline stays in the past
		}
		if !now.Before(g.rebalanceAt) {
			g.completeJoin(now, out)
		} else {
			g.maybeCompleteJoin(now, out)
		}
	case CompletingRebalance:
		if !now.Before(g.syncAt) {
			// The leader never sent its assignment: members that did
			// not sync are dropped and the rest join again.
			for _, m := range g.sortedMembers() {
				if !m.awaitingSync {
					g.removeMember(m)
				}
			}
			g.prepareRebalance(now, out)
			g.maybeCompleteJoin(now, out)
		}
	}
}

func (g *Group) stepDelete(ev Delete, out *effects) {
	switch {
	case g.state == Dead:
		out.reply(ev.Token, kerr.GroupIDNotFound)
	case g.state != Empty:
		out.reply(ev.Token, kerr.NonEmptyGroup)
	default:
		g.state = Dead
		*out = append(*out, Persist{})
		out.reply(ev.Token, nil)
	}
}

func (g *Group) persist(now time.Time, out *effects) {
	*out = append(*out, Persist{Meta: g.Snapshot(now)})
}

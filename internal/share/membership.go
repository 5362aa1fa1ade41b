package share

import (
	"slices"
	"sort"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// Heartbeat is one ShareGroupHeartbeat.
type Heartbeat struct {
	MemberID   string
	Epoch      int32 // 0 joins, -1 leaves
	RackID     string
	ClientID   string
	ClientHost string
	Topics     []string // nil: unchanged
}

// HeartbeatResult answers a Heartbeat. Assignment is nil when the member
// already has its current assignment.
type HeartbeatResult struct {
	Epoch      int32
	Interval   time.Duration
	Assignment map[[16]byte][]int32
}

// Heartbeat joins, heartbeats or leaves. Share groups have no revocation
// phase: a new assignment takes effect at once, since many members may
// hold a partition.
func (c *Coordinator) Heartbeat(group string, h Heartbeat) (HeartbeatResult, error) {
	if h.MemberID == "" || group == "" {
		return HeartbeatResult{}, ErrInvalidRequest
	}
	if h.Epoch == -1 {
		return HeartbeatResult{Epoch: -1}, c.leave(group, h.MemberID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return HeartbeatResult{}, ErrCoordinatorClosed
	}
	g := c.mu.groups[group]
	if g == nil {
		g = &Group{ID: group, Members: map[string]*Member{}}
	}
	m := g.Members[h.MemberID]
	switch {
	case m == nil && h.Epoch != 0:
		return HeartbeatResult{}, ErrUnknownMember
	case m == nil:
		if len(h.Topics) == 0 {
			return HeartbeatResult{}, ErrInvalidRequest
		}
		if len(g.Members) >= c.cfg.MaxGroupSize {
			return HeartbeatResult{}, ErrGroupMaxSize
		}
		m = &Member{ID: h.MemberID}
		g.Members[h.MemberID] = m
		c.mu.groups[group] = g
		g.Epoch++
	case h.Epoch > m.Epoch:
		return HeartbeatResult{}, ErrFencedEpoch
	}
	m.ClientID, m.ClientHost, m.deadline = h.ClientID, h.ClientHost, c.now().Add(c.sessionTimeoutLocked(group))
	if h.RackID != "" {
		m.RackID = h.RackID
	}
	if h.Topics != nil {
		ts := slices.Clone(h.Topics)
		sort.Strings(ts)
		if !slices.Equal(ts, m.Topics) {
			m.Topics = ts
			g.Epoch++
		}
	}
	c.reassignLocked(g)
	res := HeartbeatResult{Epoch: m.Epoch, Interval: c.heartbeatLocked(group)}
	if h.Epoch != m.Epoch || m.sentEpoch != m.Epoch {
		res.Assignment = m.Assignment
		m.sentEpoch = m.Epoch
	}
	return res, nil
}

func (c *Coordinator) sessionTimeoutLocked(group string) time.Duration {
	return durationOf(c.mu.configs[group][CfgSessionTimeout], c.cfg.SessionTimeout)
}

func (c *Coordinator) heartbeatLocked(group string) time.Duration {
	return durationOf(c.mu.configs[group][CfgHeartbeat], c.cfg.HeartbeatInterval)
}

// reassignLocked recomputes the assignment when the group epoch moved or a
// subscribed topic's partitions changed; members whose assignment changed
// move to the group epoch. c.mu must be held.
func (c *Coordinator) reassignLocked(g *Group) {
	topics := map[string]TopicInfo{}
	for _, m := range g.Members {
		for _, name := range m.Topics {
			if t := c.b.Topic(name); t != nil && !broker.IsInternal(name) {
				topics[name] = TopicInfo{ID: t.ID, Partitions: int32(len(t.Partitions()))}
			}
		}
	}
	old := map[string]map[[16]byte][]int32{}
	for id, m := range g.Members {
		old[id] = m.Assignment
	}
	assign(g, topics)
	changed := false
	for id, m := range g.Members {
		if !sameAssignment(old[id], m.Assignment) {
			changed = true
		}
	}
	if changed {
		g.Epoch++
	}
	for id, m := range g.Members {
		if m.Epoch == 0 || !sameAssignment(old[id], m.Assignment) {
			m.Epoch = g.Epoch
		}
	}
}

func sameAssignment(a, b map[[16]byte][]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// leave removes the member and releases its records.
func (c *Coordinator) leave(group, member string) error {
	c.mu.Lock()
	g := c.mu.groups[group]
	if g == nil || g.Members[member] == nil {
		c.mu.Unlock()
		return ErrUnknownMember
	}
	c.removeMemberLocked(g, member)
	c.mu.Unlock()
	c.releaseMember(group, member)
	return nil
}

// removeMemberLocked drops a member and its sessions. c.mu must be held.
func (c *Coordinator) removeMemberLocked(g *Group, member string) {
	delete(g.Members, member)
	delete(c.mu.sessions, sessionKey{g.ID, member})
	g.Epoch++
	if len(g.Members) == 0 {
		return
	}
	c.reassignLocked(g)
}

func (c *Coordinator) expireMembers() {
	now := c.now()
	type gone struct{ group, member string }
	var out []gone
	c.mu.Lock()
	for _, g := range c.mu.groups {
		for id, m := range g.Members {
			if now.After(m.deadline) {
				c.removeMemberLocked(g, id)
				out = append(out, gone{g.ID, id})
			}
		}
	}
	c.mu.Unlock()
	for _, o := range out {
		c.releaseMember(o.group, o.member)
	}
}

// MemberDescription is one member as ShareGroupDescribe shows it.
type MemberDescription struct {
	ID, ClientID, ClientHost, RackID string
	Epoch                            int32
	Topics                           []string
	Assignment                       map[[16]byte][]int32
}

// Description is a share group as ShareGroupDescribe shows it.
type Description struct {
	ID      string
	State   string // Empty, Stable or Dead
	Epoch   int32
	Members []MemberDescription
}

// Describe describes group; ErrGroupNotFound when it is not a share group.
func (c *Coordinator) Describe(group string) (Description, error) {
	if !c.Has(group) {
		return Description{}, ErrGroupNotFound
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d := Description{ID: group, State: "Empty"}
	g := c.mu.groups[group]
	if g == nil {
		return d, nil
	}
	d.Epoch = g.Epoch
	if len(g.Members) > 0 {
		d.State = "Stable"
	}
	for _, m := range g.Members {
		d.Members = append(d.Members, MemberDescription{ID: m.ID, ClientID: m.ClientID, ClientHost: m.ClientHost,
			RackID: m.RackID, Epoch: m.Epoch, Topics: slices.Clone(m.Topics), Assignment: m.Assignment})
	}
	sort.Slice(d.Members, func(i, j int) bool { return d.Members[i].ID < d.Members[j].ID })
	return d, nil
}

// Members is the number of members of group.
func (c *Coordinator) Members(group string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.mu.groups[group]; g != nil {
		return len(g.Members)
	}
	return 0
}

package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Snapshot is a classic group's metadata as stored in __consumer_offsets
// (key version 2). Members are saved only while the group is Stable.
type Snapshot struct {
	ProtocolType string
	Generation   int32
	Protocol     string
	Leader       string
	StateTime    int64 // ms since epoch when the state was entered
	Members      []SnapshotMember
}

// SnapshotMember is one member of a Snapshot.
type SnapshotMember struct {
	ID, InstanceID       string
	ClientID, ClientHost string
	Rebalance, Session   time.Duration
	Subscription         []byte // the chosen protocol's metadata
	Assignment           []byte
}

// Snapshot returns the group's metadata record.
func (g *Group) Snapshot(now time.Time) *Snapshot {
	s := &Snapshot{ProtocolType: g.protocolType, Generation: g.generation, StateTime: g.since.UnixMilli()}
	if g.state != Stable {
		return s
	}
	s.Protocol, s.Leader = g.protocol, g.leader
	for _, m := range g.sortedMembers() {
		meta, _ := protocolMeta(m.protocols, g.protocol)
		s.Members = append(s.Members, SnapshotMember{
			ID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			Rebalance: m.rebalance, Session: m.session, Subscription: meta, Assignment: m.assignment,
		})
	}
	return s
}

// Restore rebuilds a group from its snapshot, as a broker does at start:
// a group saved Stable is Stable again and its members' sessions start
// now, so members that keep heartbeating carry on without a rebalance.
func Restore(id string, cfg Config, s *Snapshot, now time.Time) *Group {
	g := New(id, cfg)
	g.protocolType, g.generation = s.ProtocolType, s.Generation
	g.since = time.UnixMilli(s.StateTime)
	if len(s.Members) == 0 || s.Protocol == "" {
		return g
	}
	g.protocol, g.leader = s.Protocol, s.Leader
	for _, sm := range s.Members {
		g.seq++
		m := &member{
			id: sm.ID, instanceID: sm.InstanceID, clientID: sm.ClientID, clientHost: sm.ClientHost,
			protocols: []Protocol{{Name: s.Protocol, Metadata: sm.Subscription}},
			session:   sm.Session, rebalance: sm.Rebalance, seq: g.seq,
			deadline: now.Add(sm.Session), assignment: sm.Assignment,
		}
		g.members[m.id] = m
		if m.instanceID != "" {
			g.static[m.instanceID] = m.id
		}
	}
	if g.members[g.leader] == nil {
		g.leader = g.sortedMembers()[0].id
	}
	g.state = Stable
	return g
}

// Description is what DescribeGroups shows of a classic group.
type Description struct {
	State        State
	ProtocolType string
	Protocol     string
	Generation   int32
	Leader       string
	Members      []MemberDescription
}

// MemberDescription is one member of a Description.
type MemberDescription struct {
	ID, InstanceID       string
	ClientID, ClientHost string
	Metadata             []byte // the chosen protocol's metadata
	Assignment           []byte
}

// Describe describes the group.
func (g *Group) Describe() Description {
	d := Description{State: g.state, ProtocolType: g.protocolType, Generation: g.generation, Leader: g.leader}
	if g.state == Stable || g.state == CompletingRebalance {
		d.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		meta, _ := protocolMeta(m.protocols, g.protocol)
		d.Members = append(d.Members, MemberDescription{
			ID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			Metadata: meta, Assignment: m.assignment,
		})
	}
	return d
}

// SubscribedTopics returns the topics the members' consumer protocol
// metadata subscribe to, for OffsetDelete; ok is false when the group does
// not use the consumer protocol type.
func (g *Group) SubscribedTopics(parse func([]byte) ([]string, bool)) (map[string]bool, bool) {
	if g.protocolType != "consumer" || len(g.members) == 0 {
		return nil, false
	}
	out := map[string]bool{}
	for _, m := range g.members {
		meta, _ := protocolMeta(m.protocols, g.protocol)
		if g.protocol == "" && len(m.protocols) > 0 {
			meta = m.protocols[0].Metadata
		}
		ts, ok := parse(meta)
		if !ok {
			continue
		}
		for _, t := range ts {
			out[t] = true
		}
	}
	return out, true
}

// errString names an error for scenario output.
func errString(err *kerr.Error) string {
	if err == nil {
		return "NONE"
	}
	return err.Message
}

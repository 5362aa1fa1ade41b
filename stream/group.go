package stream

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Each member advertises its HTTP endpoint (Config.Endpoint) in the
// group, as Kafka Streams' application.server: the UserData of its
// ConsumerMemberMetadata becomes (part of the format; do not change)
//
//	magic(4) = ff 'H' 'S' 01 | len(2) | endpoint | the balancer's own UserData
//
// The magic reads as a negative array length to a balancer that does not
// know it, so no sticky UserData starts with it; members without it
// (older Apps) are balanced as they are. Any member can then read every
// member's endpoint and assignment with DescribeGroups (groupView).
var endpointMagic = []byte{0xff, 'H', 'S', 0x01}

// endpointBalancer wraps a GroupBalancer (cooperative-sticky by default)
// to carry the member's endpoint; balancing is the inner one's.
type endpointBalancer struct {
	kgo.GroupBalancer
	endpoint string
}

func (b endpointBalancer) JoinGroupMetadata(interests []string, current map[string][]int32, gen int32) []byte {
	raw := b.GroupBalancer.JoinGroupMetadata(interests, current, gen)
	var meta kmsg.ConsumerMemberMetadata
	if err := meta.ReadFrom(raw); err != nil {
		return raw // not the consumer protocol: nothing to add to
	}
	ud := append(bytes.Clone(endpointMagic), 0, 0)
	binary.BigEndian.PutUint16(ud[4:], uint16(len(b.endpoint)))
	ud = append(append(ud, b.endpoint...), meta.UserData...)
	meta.UserData = ud
	return meta.AppendTo(nil)
}

func (b endpointBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	stripped := make([]kmsg.JoinGroupResponseMember, len(members))
	for i, m := range members {
		stripped[i] = m
		var meta kmsg.ConsumerMemberMetadata
		if meta.ReadFrom(m.ProtocolMetadata) != nil {
			continue
		}
		if _, inner, ok := splitEndpoint(meta.UserData); ok {
			meta.UserData = inner
			stripped[i].ProtocolMetadata = meta.AppendTo(nil)
		}
	}
	return b.GroupBalancer.MemberBalancer(stripped)
}

// splitEndpoint parses UserData written by JoinGroupMetadata.
func splitEndpoint(ud []byte) (endpoint string, inner []byte, ok bool) {
	if len(ud) < 6 || !bytes.Equal(ud[:4], endpointMagic) {
		return "", ud, false
	}
	n := int(binary.BigEndian.Uint16(ud[4:]))
	if len(ud) < 6+n {
		return "", ud, false
	}
	return string(ud[6 : 6+n]), ud[6+n:], true
}

// errRebalancing: the group's assignment is being changed.
var errRebalancing = errors.New("rebalancing")

// member is one group member as DescribeGroups shows it.
type member struct {
	id       string
	endpoint string                    // "" if it advertises none
	owned    map[string]map[int32]bool // assigned source partitions
}

// groupView caches the group's members, their endpoints and assignments,
// read with DescribeGroups. Safe for concurrent use.
type groupView struct {
	mu struct {
		sync.Mutex
		members []member // by member id
		at      time.Time
	}
}

// maxViewAge is how long a view serves before it is read again: other
// members' assignments change without a callback on this one.
const maxViewAge = time.Second

// groupMembers returns the members, reading the group again if the view is older
// than maxViewAge or fresh is set.
func (a *App) groupMembers(ctx context.Context, fresh bool) ([]member, error) {
	v := &a.view
	v.mu.Lock()
	if !fresh && v.mu.members != nil && time.Since(v.mu.at) < maxViewAge {
		defer v.mu.Unlock()
		return v.mu.members, nil
	}
	v.mu.Unlock()
	ms, err := a.describeGroup(ctx)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	v.mu.members, v.mu.at = ms, time.Now()
	v.mu.Unlock()
	return ms, nil
}

// invalidate makes the next groupMembers read the group.
func (v *groupView) invalidate() {
	v.mu.Lock()
	v.mu.members = nil
	v.mu.Unlock()
}

func (a *App) describeGroup(ctx context.Context) ([]member, error) {
	a.mu.Lock()
	adm := a.adm
	a.mu.Unlock()
	if adm == nil {
		return nil, errors.New("stream: not running")
	}
	dg, err := adm.DescribeGroups(ctx, a.cfg.AppID)
	if err != nil {
		return nil, fmt.Errorf("stream: describe group: %w", err)
	}
	g, ok := dg[a.cfg.AppID]
	if !ok {
		return nil, fmt.Errorf("stream: describe group: %s missing", a.cfg.AppID)
	}
	if g.Err != nil {
		return nil, fmt.Errorf("stream: describe group: %w", g.Err)
	}
	if g.State != "Stable" {
		return nil, fmt.Errorf("stream: group %s is %s: %w", a.cfg.AppID, g.State, errRebalancing)
	}
	var out []member
	for _, m := range g.Members {
		mv := member{id: m.MemberID, owned: map[string]map[int32]bool{}}
		if meta, ok := m.Join.AsConsumer(); ok {
			mv.endpoint, _, _ = splitEndpoint(meta.UserData)
		}
		if as, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range as.Topics {
				ps := map[int32]bool{}
				for _, p := range t.Partitions {
					ps[p] = true
				}
				mv.owned[t.Topic] = ps
			}
		}
		out = append(out, mv)
	}
	slices.SortFunc(out, func(a, b member) int { return cmp.Compare(a.id, b.id) })
	return out, nil
}

// owner is the member assigned task id (its first source topic's
// partition), if any.
func (a *App) owner(ms []member, id taskID) (member, bool) {
	topic := a.t.physical(a.cfg.AppID, a.subs[id.sub][0])
	for _, m := range ms {
		if m.owned[topic][id.partition] {
			return m, true
		}
	}
	return member{}, false
}

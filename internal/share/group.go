package share

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Errors of group operations; the kafka package maps them to codes.
var (
	ErrUnknownMember     = errors.New("unknown member")              // UNKNOWN_MEMBER_ID
	ErrFencedEpoch       = errors.New("fenced member epoch")         // FENCED_MEMBER_EPOCH
	ErrGroupNotFound     = errors.New("group not found")             // GROUP_ID_NOT_FOUND
	ErrNotEmpty          = errors.New("group has members")           // NON_EMPTY_GROUP
	ErrInvalidRequest    = errors.New("invalid request")             // INVALID_REQUEST
	ErrInvalidConfig     = errors.New("invalid group config")        // INVALID_CONFIG
	ErrGroupMaxSize      = errors.New("group is full")               // GROUP_MAX_SIZE_REACHED
	ErrSessionNotFound   = errors.New("share session not found")     // SHARE_SESSION_NOT_FOUND
	ErrInvalidEpoch      = errors.New("invalid share session epoch") // INVALID_SHARE_SESSION_EPOCH
	ErrCoordinatorClosed = errors.New("share coordinator closed")    // COORDINATOR_NOT_AVAILABLE
)

// Member is one member of a share group. Its id is chosen by the client
// (KIP-1082).
type Member struct {
	ID, ClientID, ClientHost, RackID string
	Epoch                            int32
	Topics                           []string // subscribed topic names, sorted
	// Assignment maps topic id to partitions; many members may be given
	// the same partition.
	Assignment map[[16]byte][]int32
	deadline   time.Time // session expiry
	sentEpoch  int32     // the epoch whose assignment the member was last sent
}

// Group is one share group's membership. Membership is not persisted: after
// a restart members heartbeat with an unknown id and join again.
type Group struct {
	ID      string
	Epoch   int32 // bumped when membership, subscriptions or topics change
	Members map[string]*Member
}

// TopicInfo is what the assignor knows of a topic.
type TopicInfo struct {
	ID         [16]byte
	Partitions int32
}

// assign is the simple share assignor: per topic, with M subscribed
// members and P partitions, partition i goes to member i mod M when M <= P;
// otherwise member j gets partition j mod P, so that every partition has
// a member and every member a partition (several members share one).
func assign(g *Group, topics map[string]TopicInfo) {
	subs := map[string][]*Member{}
	for _, m := range g.Members {
		m.Assignment = map[[16]byte][]int32{}
		for _, t := range m.Topics {
			if _, ok := topics[t]; ok {
				subs[t] = append(subs[t], m)
			}
		}
	}
	for name, ms := range subs {
		sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
		ti := topics[name]
		if ti.Partitions <= 0 {
			continue
		}
		p, n := int(ti.Partitions), len(ms)
		if n <= p {
			for i := 0; i < p; i++ {
				m := ms[i%n]
				m.Assignment[ti.ID] = append(m.Assignment[ti.ID], int32(i))
			}
			continue
		}
		for j, m := range ms {
			m.Assignment[ti.ID] = append(m.Assignment[ti.ID], int32(j%p))
		}
	}
}

// Group config names (Kafka's GroupConfig) and their defaults.
const (
	CfgAutoOffsetReset = "share.auto.offset.reset"
	CfgLockDuration    = "share.record.lock.duration.ms"
	CfgSessionTimeout  = "share.session.timeout.ms"
	CfgHeartbeat       = "share.heartbeat.interval.ms"
	CfgDeliveryLimit   = "share.delivery.count.limit"
	CfgIsolation       = "share.isolation.level"
	CfgMaxRecordLocks  = "share.partition.max.record.locks" // KIP-1240
)

// ConfigNames lists the group configs, in DescribeConfigs order.
var ConfigNames = []string{CfgAutoOffsetReset, CfgDeliveryLimit, CfgHeartbeat, CfgIsolation, CfgMaxRecordLocks, CfgLockDuration, CfgSessionTimeout}

// validConfig checks one group config value.
func validConfig(name, v string) error {
	switch name {
	case CfgAutoOffsetReset:
		if v == "latest" || v == "earliest" { // by_duration: is not supported yet
			return nil
		}
	case CfgIsolation:
		if v == "read_committed" || v == "read_uncommitted" {
			return nil
		}
	case CfgLockDuration, CfgSessionTimeout, CfgHeartbeat:
		if n, err := strconv.Atoi(v); err == nil && n >= 1000 && n <= 3600000 {
			return nil
		}
	case CfgDeliveryLimit:
		if n, err := strconv.Atoi(v); err == nil && n >= 2 && n <= 10 {
			return nil
		}
	case CfgMaxRecordLocks:
		if n, err := strconv.Atoi(v); err == nil && n >= 100 && n <= 10000 {
			return nil
		}
	case "consumer.session.timeout.ms", "consumer.heartbeat.interval.ms", "streams.session.timeout.ms",
		"streams.heartbeat.interval.ms", "streams.num.standby.replicas":
		if _, err := strconv.Atoi(v); err == nil {
			return nil
		}
	default:
		return fmt.Errorf("%w: unknown group config %q", ErrInvalidConfig, name)
	}
	return fmt.Errorf("%w: %s=%q", ErrInvalidConfig, name, v)
}

// durationOf parses a milliseconds config, or returns def.
func durationOf(v string, def time.Duration) time.Duration {
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Millisecond
	}
	return def
}

// DefaultConfig is the broker's default of a group config.
func (c *Coordinator) DefaultConfig(name string) string {
	switch name {
	case CfgAutoOffsetReset:
		return "latest"
	case CfgLockDuration:
		return strconv.FormatInt(c.cfg.LockDuration.Milliseconds(), 10)
	case CfgSessionTimeout:
		return strconv.FormatInt(c.cfg.SessionTimeout.Milliseconds(), 10)
	case CfgHeartbeat:
		return strconv.FormatInt(c.cfg.HeartbeatInterval.Milliseconds(), 10)
	case CfgDeliveryLimit:
		return strconv.Itoa(int(c.cfg.DeliveryLimit))
	case CfgIsolation:
		return "read_committed"
	case CfgMaxRecordLocks:
		return strconv.Itoa(c.cfg.MaxRecordLocks)
	}
	return ""
}

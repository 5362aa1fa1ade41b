package share

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/records"
)

// Defaults of Config, as Kafka 4.1's broker settings.
const (
	DefaultLockDuration      = 30 * time.Second // group.share.record.lock.duration.ms
	DefaultDeliveryLimit     = 5                // group.share.delivery.count.limit
	DefaultMaxRecordLocks    = 2000             // group.share.partition.max.record.locks (200 in Kafka 4.0)
	DefaultSessionTimeout    = 45 * time.Second // group.share.session.timeout.ms
	DefaultHeartbeatInterval = 5 * time.Second  // group.share.heartbeat.interval.ms
	DefaultMaxGroupSize      = 200              // group.share.max.size
)

// Config configures a Coordinator.
type Config struct {
	Broker *broker.Broker
	Logger *slog.Logger
	// LockDuration is how long an acquired record stays locked to its
	// member; a group's share.record.lock.duration.ms overrides it.
	LockDuration time.Duration
	// DeliveryLimit archives a record delivered this many times.
	DeliveryLimit int16
	// MaxRecordLocks bounds the in-flight records of one share partition.
	MaxRecordLocks int
	// SessionTimeout removes a member that does not heartbeat.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	MaxGroupSize      int
	Now               func() time.Time
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.LockDuration <= 0 {
		c.LockDuration = DefaultLockDuration
	}
	if c.DeliveryLimit <= 0 {
		c.DeliveryLimit = DefaultDeliveryLimit
	}
	if c.MaxRecordLocks <= 0 {
		c.MaxRecordLocks = DefaultMaxRecordLocks
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.MaxGroupSize <= 0 {
		c.MaxGroupSize = DefaultMaxGroupSize
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// partKey names one share partition.
type partKey struct {
	group string
	topic [16]byte
	part  int32
}

// sharePart is one share partition and its lock. mu guards st, loaded and
// deleted; avail is closed (and replaced) when records become available
// again, waking long-polling fetches. Log reads and appends to StateTopic
// run under mu (no fsync: Durable is waited for after unlocking).
type sharePart struct {
	key partKey
	mu  sync.Mutex
	st  Partition
	// loaded: st has a start offset (from replay, an alter, or the
	// group's share.auto.offset.reset at first fetch).
	loaded  bool
	deleted bool
	avail   chan struct{}
}

// Coordinator runs the share groups of the broker: membership and
// assignment, share sessions, and the share partitions' record states,
// persisted to StateTopic. All methods are safe for concurrent use.
//
// Locking: Coordinator.mu (groups, parts map, sessions, configs) before
// sharePart.mu; nothing takes Coordinator.mu while holding a sharePart.mu.
type Coordinator struct {
	cfg   Config
	b     *broker.Broker
	topic *broker.Topic

	mu struct {
		sync.Mutex
		groups   map[string]*Group
		parts    map[partKey]*sharePart
		sessions map[sessionKey]*session
		configs  map[string]map[string]string // dynamic group configs
		closed   bool
	}
	stop chan struct{}
	wg   sync.WaitGroup
}

// Open creates StateTopic if needed, replays it and starts the loop that
// expires record locks and member sessions.
func Open(cfg Config) (*Coordinator, error) {
	cfg.defaults()
	c := &Coordinator{cfg: cfg, b: cfg.Broker, stop: make(chan struct{})}
	c.mu.groups = map[string]*Group{}
	c.mu.parts = map[partKey]*sharePart{}
	c.mu.sessions = map[sessionKey]*session{}
	c.mu.configs = map[string]map[string]string{}
	t, err := c.b.StateTopic(StateTopic, 1)
	if err != nil {
		return nil, err
	}
	c.topic = t
	if err := c.replay(); err != nil {
		return nil, fmt.Errorf("replay %s: %w", StateTopic, err)
	}
	c.wg.Add(1)
	go c.expireLoop()
	return c, nil
}

// Close stops the expiry loop. It is idempotent.
func (c *Coordinator) Close() {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.closed = true
	c.mu.Unlock()
	close(c.stop)
	c.wg.Wait()
}

func (c *Coordinator) now() time.Time { return c.cfg.Now() }

func (c *Coordinator) replay() error {
	n := 0
	var scratch []byte
	for _, p := range c.topic.Partitions() {
		err := p.Scan(0, func(batch []byte) error {
			var err error
			scratch, err = records.EachRecord(batch, scratch, func(r *records.Record) {
				if c.applyReplay(r.Key, r.Value) {
					n++
				}
			})
			return err
		})
		if err != nil {
			return err
		}
	}
	if n > 0 {
		c.cfg.Logger.Info("replayed share group state", "records", n, "partitions", len(c.mu.parts))
	}
	return nil
}

func (c *Coordinator) applyReplay(k, v []byte) bool {
	dk, err := decodeKey(k)
	if err == nil && dk.kind == keyConfigs {
		if v == nil {
			delete(c.mu.configs, dk.group)
			return true
		}
		m, err := decodeConfigs(v)
		if err == nil {
			c.mu.configs[dk.group] = m
			return true
		}
	}
	if err == nil && dk.kind == keyPartition {
		if v == nil {
			delete(c.mu.parts, dk.part)
			return true
		}
		p, err := decodePartition(v)
		if err == nil {
			c.mu.parts[dk.part] = &sharePart{key: dk.part, st: *p, loaded: true, avail: make(chan struct{})}
			return true
		}
	}
	c.cfg.Logger.Warn("skipping unreadable share state record", "err", err)
	return false
}

// write appends kvs to StateTopic; the caller waits for Durable outside
// its locks.
func (c *Coordinator) write(kvs [][2][]byte) (broker.Appended, error) {
	batch, err := records.KeyValueBatch(c.now().UnixMilli(), kvs)
	if err != nil {
		return broker.Appended{}, err
	}
	return c.topic.Partition(0).Write(batch)
}

// persistLocked writes sp's state. sp.mu must be held.
func (c *Coordinator) persistLocked(sp *sharePart) (broker.Appended, error) {
	if sp.deleted {
		return broker.Appended{}, nil
	}
	return c.write([][2][]byte{{partitionKey(sp.key), encodePartition(&sp.st)}})
}

// signalLocked wakes fetches waiting for available records. sp.mu must be
// held.
func (sp *sharePart) signalLocked() {
	close(sp.avail)
	sp.avail = make(chan struct{})
}

// part returns the share partition, creating it (unloaded) if needed.
func (c *Coordinator) part(k partKey) *sharePart {
	c.mu.Lock()
	defer c.mu.Unlock()
	sp := c.mu.parts[k]
	if sp == nil {
		sp = &sharePart{key: k, avail: make(chan struct{})}
		c.mu.parts[k] = sp
	}
	return sp
}

// groupConfig is the group's value of name, or "" when unset.
func (c *Coordinator) groupConfig(group, name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.configs[group][name]
}

// lockDuration is the group's acquisition lock duration.
func (c *Coordinator) lockDuration(group string) time.Duration {
	if v, err := strconv.Atoi(c.groupConfig(group, CfgLockDuration)); err == nil && v > 0 {
		return time.Duration(v) * time.Millisecond
	}
	return c.cfg.LockDuration
}

// LockDuration is the acquisition lock duration fetches of group answer.
func (c *Coordinator) LockDuration(group string) time.Duration { return c.lockDuration(group) }

func (c *Coordinator) deliveryLimit(group string) int16 {
	if v, err := strconv.Atoi(c.groupConfig(group, CfgDeliveryLimit)); err == nil && v > 0 {
		return int16(v)
	}
	return c.cfg.DeliveryLimit
}

// expireLoop releases expired record locks and removes members whose
// session timed out.
func (c *Coordinator) expireLoop() {
	defer c.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.expireMembers()
			c.expireLocks()
		}
	}
}

func (c *Coordinator) expireLocks() {
	now := c.now()
	c.mu.Lock()
	parts := slices.Collect(maps.Values(c.mu.parts))
	c.mu.Unlock()
	for _, sp := range parts {
		limit := c.deliveryLimit(sp.key.group)
		sp.mu.Lock()
		var a broker.Appended
		var err error
		if d := sp.st.NextDeadline(); !d.IsZero() && !d.After(now) && sp.st.Expire(now, limit) {
			a, err = c.persistLocked(sp)
			sp.signalLocked()
		}
		sp.mu.Unlock()
		if err != nil {
			c.cfg.Logger.Error("persist share state", "group", sp.key.group, "err", err)
		}
		_ = a
	}
}

// releaseMember releases what member holds in every partition of group.
func (c *Coordinator) releaseMember(group, member string) {
	c.mu.Lock()
	var parts []*sharePart
	for k, sp := range c.mu.parts {
		if k.group == group {
			parts = append(parts, sp)
		}
	}
	c.mu.Unlock()
	limit := c.deliveryLimit(group)
	for _, sp := range parts {
		sp.mu.Lock()
		if sp.st.ReleaseMember(member, limit) {
			if _, err := c.persistLocked(sp); err != nil {
				c.cfg.Logger.Error("persist share state", "group", group, "err", err)
			}
			sp.signalLocked()
		}
		sp.mu.Unlock()
	}
}

// GroupIDs lists the share groups: those with members, state or configs.
func (c *Coordinator) GroupIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	set := map[string]bool{}
	for id := range c.mu.groups {
		set[id] = true
	}
	for k := range c.mu.parts {
		set[k.group] = true
	}
	ids := slices.Collect(maps.Keys(set))
	sort.Strings(ids)
	return ids
}

// Has reports whether group is a share group known to the coordinator
// (members or persisted state).
func (c *Coordinator) Has(group string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mu.groups[group]; ok {
		return true
	}
	for k := range c.mu.parts {
		if k.group == group {
			return true
		}
	}
	return false
}

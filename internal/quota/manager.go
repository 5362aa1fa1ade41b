package quota

import (
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/metadata"
)

// Defaults for Config (Kafka's quota.window.num and
// quota.window.size.seconds).
const (
	DefaultWindowNum  = 11
	DefaultWindowSize = time.Second
)

// Store keeps quotas durable: the broker's metadata log (broker.Broker
// implements it). SetQuotas returns once the change survives a crash; on
// error nothing changed. Each entry replaces its entity's values; empty
// Values removes the entity.
type Store interface {
	Quotas() []metadata.Quota
	SetQuotas([]metadata.Quota) error
}

// Config configures a Manager.
type Config struct {
	// Store makes changes durable and holds the quotas New starts from;
	// nil keeps them in memory only.
	Store Store
	// WindowNum and WindowSize are the samples a rate is measured over
	// (defaults 11 and 1 s).
	WindowNum  int
	WindowSize time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Kind is an enforced quota type.
type Kind uint8

// The enforced kinds; each has its own sensors.
const (
	Produce Kind = iota // producer_byte_rate: produce request bytes
	Fetch               // consumer_byte_rate: fetch response bytes
	Request             // request_percentage: handler time
	numKinds
)

var kindKeys = [numKinds]string{ProducerByteRate, ConsumerByteRate, RequestPercentage}

// Manager holds the client quotas, answers Describe and Alter, and
// measures clients against them (Record). Record reads an immutable table
// through one atomic load; with no enforced quota configured the table is
// nil, and Active, the hot path's check, is that one load. Alter builds a
// new table and swaps it in, so a change applies to the next request. All
// methods are safe for concurrent use.
type Manager struct {
	cfg   Config
	tab   atomic.Pointer[table]   // nil: no enforced quota
	ipTab atomic.Pointer[ipTable] // nil: no connection_creation_rate
	// mu serializes changes: Alter writes the store (an fsync, under mu;
	// never on the Record path), then updates entries and swaps tab.
	mu      sync.Mutex
	entries []metadata.Quota // every entity, sorted by metadata.CompareQuota; under mu
	seed    maphash.Seed
	shards  [numShards]shard
}

const numShards = 32

// shard holds the sensors whose keys hash to it.
type shard struct {
	mu      sync.Mutex
	sensors map[sensorKey]*sensor
}

// sensorKey names a sensor as Kafka's quota metric tags do: the user and
// client id the matched quota applies to ("" where the quota is not per
// that part).
type sensorKey struct {
	kind           Kind
	user, clientID string
}

// New returns a Manager holding the store's quotas.
func New(cfg Config) *Manager {
	if cfg.WindowNum <= 0 {
		cfg.WindowNum = DefaultWindowNum
	}
	if cfg.WindowSize <= 0 {
		cfg.WindowSize = DefaultWindowSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Manager{cfg: cfg, seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].sensors = make(map[sensorKey]*sensor)
	}
	if cfg.Store != nil {
		m.entries = cfg.Store.Quotas()
	}
	m.swapTables()
	return m
}

// Active reports whether any enforced quota is configured; false on a nil
// Manager. It is one atomic load.
func (m *Manager) Active() bool { return m != nil && m.tab.Load() != nil }

// Record adds v (bytes, or for Request the handler time's percentage of a
// second: nanoseconds/1e7) for the client (user, clientID) at now, and
// returns how long the client must be throttled: 0 when it is within its
// quota or has none. A caller that measures one client often keeps its
// Client instead, which saves the lookups.
func (m *Manager) Record(k Kind, user, clientID string, v float64, now time.Time) time.Duration {
	c := m.Client(user, clientID)
	if c == nil {
		return 0
	}
	return c.Record(k, v, now)
}

// Rate is the rate the client is measured at for k, per second, over the
// window (0 when no quota of k applies to it).
func (m *Manager) Rate(k Kind, user, clientID string) float64 {
	t := m.tab.Load()
	if t == nil {
		return 0
	}
	_, key, ok := t.resolve(k, user, clientID)
	if !ok {
		return 0
	}
	return m.sensor(key).rate(m.cfg.Now().UnixNano(), m.cfg.WindowSize)
}

// Limit is the quota of k that applies to the client, by Kafka's
// precedence, and whether there is one.
func (m *Manager) Limit(k Kind, user, clientID string) (float64, bool) {
	t := m.tab.Load()
	if t == nil {
		return 0, false
	}
	l, _, ok := t.resolve(k, user, clientID)
	return l, ok
}

func (m *Manager) sensor(key sensorKey) *sensor {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(key.user)
	h.WriteByte(byte(key.kind))
	h.WriteString(key.clientID)
	sh := &m.shards[h.Sum64()%numShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.sensors[key]
	if s == nil {
		s = newSensor(m.cfg.WindowNum)
		sh.sensors[key] = s
	}
	return s
}

// Entry is one entity and its values, as Describe returns them.
type Entry struct {
	Entity Entity
	Values map[string]float64
}

// Describe returns the entities f matches and their values, ordered by
// entity. f must be valid (Filter.Validate).
func (m *Manager) Describe(f Filter) []Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Entry
	for _, q := range m.entries {
		if f.matches(q.Entity) {
			out = append(out, Entry{Entity: maps.Clone(q.Entity), Values: maps.Clone(q.Values)})
		}
	}
	return out
}

// Alter applies the alterations, which must each be valid
// (Alteration.Validate), in one durable change; with validateOnly it
// changes nothing. On error (the store failed) nothing changed.
func (m *Manager) Alter(as []Alteration, validateOnly bool) error {
	for _, a := range as {
		if err := a.Validate(); err != nil {
			return fmt.Errorf("%s: %w", a.Entity, err)
		}
	}
	if validateOnly || len(as) == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next := m.applied(as)
	if m.cfg.Store != nil {
		if err := m.cfg.Store.SetQuotas(next.changed); err != nil {
			return err
		}
	}
	m.entries = next.entries
	m.swapTables()
	return nil
}

// swapTables builds the lookup tables of m.entries and swaps them in.
// mu must be held, or m not yet shared.
func (m *Manager) swapTables() {
	m.tab.Store(newTable(m.entries))
	m.ipTab.Store(newIPTable(m.entries))
}

// alteredState is the entries after some alterations, and the records
// (whole entities) that change them.
type alteredState struct {
	entries []metadata.Quota
	changed []metadata.Quota
}

// applied computes the alterations' outcome without changing m. mu must
// be held.
func (m *Manager) applied(as []Alteration) alteredState {
	var st metadata.State
	st.Quotas = slices.Clone(m.entries)
	byKey := map[string]int{}
	var changed []metadata.Quota
	for _, a := range as {
		q := metadata.Quota{Entity: map[string]string(a.Entity), Values: map[string]float64{}}
		if i, found := slices.BinarySearchFunc(st.Quotas, q, metadata.CompareQuota); found {
			q.Values = maps.Clone(st.Quotas[i].Values)
		}
		for _, op := range a.Ops {
			if op.Remove {
				delete(q.Values, op.Key)
			} else {
				q.Values[op.Key] = op.Value
			}
		}
		_ = st.Apply(metadata.Record{Type: metadata.SetQuotas, Quotas: []metadata.Quota{q}})
		k := metadata.QuotaKey(q.Entity)
		if i, ok := byKey[k]; ok {
			changed[i] = q
		} else {
			byKey[k] = len(changed)
			changed = append(changed, q)
		}
	}
	return alteredState{entries: st.Quotas, changed: changed}
}

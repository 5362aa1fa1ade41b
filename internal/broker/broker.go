package broker

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	hlog "github.com/heraldhq/herald/internal/log"
	"github.com/heraldhq/herald/internal/metadata"
	"github.com/heraldhq/herald/internal/vfs"
)

// Config configures a Broker.
type Config struct {
	DataDir           string
	DefaultPartitions int32  // for auto-created topics and CreateTopics with -1; default 1
	AutoCreateTopics  bool   // Metadata and Produce create unknown topics
	Durability        string // default herald.durability; default "always"
	// MaintainInterval is how often every partition's Log.Maintain runs
	// (retention, compaction, segment age); default 30s.
	MaintainInterval time.Duration
	FS               vfs.FS
	Logger           *slog.Logger
	Now              func() time.Time
}

// Broker owns the topics and their partition logs. All methods are safe for
// concurrent use.
type Broker struct {
	cfg        Config
	durability hlog.Durability
	clusterID  string
	logger     *slog.Logger

	// topics is an immutable snapshot, replaced whole under adminMu, so
	// that the produce and fetch paths look topics up without locking.
	topics atomic.Pointer[topicMap]

	// adminMu serializes changes to topics: each writes the metadata log
	// (an fsync) and then publishes a new snapshot. Lock order: adminMu
	// before any log's internal locks.
	adminMu sync.Mutex
	meta    *metadata.Log

	// schemas checks record values on topics with
	// herald.schema.validation; nil until SetSchemaValidator.
	schemas atomic.Pointer[SchemaValidator]

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

type topicMap struct {
	byName map[string]*Topic
	byID   map[metadata.TopicID]*Topic
}

// Open opens the data dir, replays the metadata log and opens every
// partition log.
func Open(cfg Config) (*Broker, error) {
	if cfg.DefaultPartitions <= 0 {
		cfg.DefaultPartitions = 1
	}
	if cfg.Durability == "" {
		cfg.Durability = "always"
	}
	if cfg.MaintainInterval <= 0 {
		cfg.MaintainInterval = 30 * time.Second
	}
	if cfg.FS == nil {
		cfg.FS = vfs.Default
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d, err := hlog.ParseDurability(cfg.Durability)
	if err != nil {
		return nil, fmt.Errorf("durability: %w", err)
	}
	b := &Broker{cfg: cfg, durability: d, logger: cfg.Logger, stop: make(chan struct{})}
	meta, st, err := metadata.Open(cfg.FS, cfg.DataDir, cfg.Logger)
	if err != nil {
		return nil, err
	}
	b.meta = meta
	b.clusterID = st.ClusterID
	if b.clusterID == "" {
		b.clusterID = newClusterID()
		if err := meta.Append(metadata.Record{Type: metadata.SetClusterID, ClusterID: b.clusterID}); err != nil {
			meta.Close()
			return nil, err
		}
	}
	tm := &topicMap{byName: map[string]*Topic{}, byID: map[metadata.TopicID]*Topic{}}
	for _, mt := range st.Topics {
		t, err := b.openTopic(mt.Name, mt.ID, mt.Partitions, mt.Configs, false)
		if err != nil {
			closeTopics(tm)
			meta.Close()
			return nil, err
		}
		tm.byName[t.Name], tm.byID[t.ID] = t, t
	}
	b.topics.Store(tm)
	b.warnStrayDirs(tm)
	b.wg.Add(1)
	go b.maintainLoop()
	return b, nil
}

// Close stops maintenance and syncs and closes every partition log. It is
// idempotent.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		close(b.stop)
		b.wg.Wait()
		b.adminMu.Lock()
		defer b.adminMu.Unlock()
		b.closeErr = errors.Join(closeTopics(b.topics.Load()), b.meta.Close())
	})
	return b.closeErr
}

func closeTopics(tm *topicMap) error {
	var errs []error
	for _, t := range tm.byName {
		for _, p := range t.partitions() {
			if err := p.Log.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close %s-%d: %w", t.Name, p.Index, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Sync makes every partition durable.
func (b *Broker) Sync() error {
	var errs []error
	for _, t := range b.topics.Load().byName {
		for _, p := range t.partitions() {
			errs = append(errs, p.Log.Sync())
		}
	}
	return errors.Join(errs...)
}

// ClusterID is the data dir's cluster id, made when the dir was new.
func (b *Broker) ClusterID() string { return b.clusterID }

// DataDir is the directory the broker keeps its data in.
func (b *Broker) DataDir() string { return b.cfg.DataDir }

// AutoCreateTopics reports whether unknown topics are created on use.
func (b *Broker) AutoCreateTopics() bool { return b.cfg.AutoCreateTopics }

// Topic returns the topic named name, or nil.
func (b *Broker) Topic(name string) *Topic { return b.topics.Load().byName[name] }

// TopicByID returns the topic with the id, or nil.
func (b *Broker) TopicByID(id [16]byte) *Topic { return b.topics.Load().byID[id] }

// Topics returns every topic sorted by name.
func (b *Broker) Topics() []*Topic {
	tm := b.topics.Load()
	out := make([]*Topic, 0, len(tm.byName))
	for _, t := range tm.byName {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, c *Topic) int { return strings.Compare(a.Name, c.Name) })
	return out
}

// CreateTopic creates a topic with partitions partitions (-1: the default)
// and the given configs. With validateOnly it checks everything and changes
// nothing. Errors are *Error with INVALID_TOPIC_EXCEPTION,
// TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS or INVALID_CONFIG.
func (b *Broker) CreateTopic(name string, partitions int32, configs map[string]string, validateOnly bool) (*Topic, error) {
	if err := ValidateTopicName(name); err != nil {
		return nil, err
	}
	if partitions == -1 {
		partitions = b.cfg.DefaultPartitions
	}
	if partitions <= 0 || partitions > MaxPartitions {
		return nil, kafkaErr(kerr.InvalidPartitions, fmt.Sprintf("partition count %d is not between 1 and %d", partitions, MaxPartitions))
	}
	if err := b.validateConfigs(configs); err != nil {
		return nil, err
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	tm := b.topics.Load()
	if _, ok := tm.byName[name]; ok {
		return nil, kafkaErr(kerr.TopicAlreadyExists, fmt.Sprintf("topic %q already exists", name))
	}
	key := collisionKey(name)
	for other := range tm.byName {
		if collisionKey(other) == key {
			return nil, kafkaErr(kerr.InvalidTopicException,
				fmt.Sprintf("topic %q collides with existing topic %q ('.' and '_' are equivalent)", name, other))
		}
	}
	if validateOnly {
		return nil, nil
	}
	id := newTopicID()
	configs = maps.Clone(configs)
	if err := b.meta.Append(metadata.Record{Type: metadata.CreateTopic, Topic: name, ID: id, Partitions: partitions, Configs: configs}); err != nil {
		return nil, err
	}
	t, err := b.openTopic(name, id, partitions, configs, true)
	if err != nil {
		return nil, err
	}
	b.publishLocked(func(m *topicMap) { m.byName[name], m.byID[id] = t, t })
	b.logger.Info("created topic", "topic", name, "id", id, "partitions", partitions)
	return t, nil
}

// MaxPartitions bounds a topic's partition count.
const MaxPartitions = 100000

// AutoCreate creates name with the default partitions if auto-creation is
// on; it returns the existing topic if another request created it first.
func (b *Broker) AutoCreate(name string) (*Topic, error) {
	if !b.cfg.AutoCreateTopics {
		return nil, kafkaErr(kerr.UnknownTopicOrPartition, "")
	}
	t, err := b.CreateTopic(name, -1, nil, false)
	if errors.Is(err, kerr.TopicAlreadyExists) {
		if t := b.Topic(name); t != nil {
			return t, nil
		}
	}
	return t, err
}

// DeleteTopic deletes the topic and its data.
func (b *Broker) DeleteTopic(t *Topic) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if b.topics.Load().byID[t.ID] != t {
		return kafkaErr(kerr.UnknownTopicOrPartition, "")
	}
	if err := b.meta.Append(metadata.Record{Type: metadata.DeleteTopic, ID: t.ID}); err != nil {
		return err
	}
	b.publishLocked(func(m *topicMap) { delete(m.byName, t.Name); delete(m.byID, t.ID) })
	var errs []error
	for _, p := range t.partitions() {
		errs = append(errs, p.Log.Remove())
	}
	b.logger.Info("deleted topic", "topic", t.Name, "id", t.ID)
	return errors.Join(errs...)
}

// CreatePartitions raises t's partition count to count.
func (b *Broker) CreatePartitions(t *Topic, count int32, validateOnly bool) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if b.topics.Load().byID[t.ID] != t {
		return kafkaErr(kerr.UnknownTopicOrPartition, "")
	}
	st := t.state.Load()
	have := int32(len(st.parts))
	if count <= have || count > MaxPartitions {
		return kafkaErr(kerr.InvalidPartitions, fmt.Sprintf("topic %q has %d partitions; the new count %d must be more (and at most %d)", t.Name, have, count, MaxPartitions))
	}
	if validateOnly {
		return nil
	}
	if err := b.meta.Append(metadata.Record{Type: metadata.AddPartitions, ID: t.ID, Partitions: count}); err != nil {
		return err
	}
	parts := slices.Clone(st.parts)
	for i := have; i < count; i++ {
		p, err := b.openPartition(t, i, st.configs, true)
		if err != nil {
			return err
		}
		parts = append(parts, p)
	}
	t.state.Store(&topicState{parts: parts, configs: st.configs, settings: st.settings})
	return nil
}

// SetTopicConfigs replaces t's configs (those not given return to their
// defaults) and applies them to every partition.
func (b *Broker) SetTopicConfigs(t *Topic, configs map[string]string, validateOnly bool) error {
	if err := b.validateConfigs(configs); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if b.topics.Load().byID[t.ID] != t {
		return kafkaErr(kerr.UnknownTopicOrPartition, "")
	}
	configs = maps.Clone(configs)
	if err := b.meta.Append(metadata.Record{Type: metadata.SetConfigs, ID: t.ID, Configs: configs}); err != nil {
		return err
	}
	st := t.state.Load()
	lc := b.logConfig(configs)
	var errs []error
	for _, p := range st.parts {
		if err := p.Log.SetConfig(lc); err != nil {
			errs = append(errs, fmt.Errorf("partition %d: %w", p.Index, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		// The metadata already holds the new configs; the next Open
		// applies them. Say so rather than hide it.
		b.logger.Error("apply topic configs", "topic", t.Name, "err", err)
	}
	t.state.Store(&topicState{parts: st.parts, configs: configs, settings: b.parseSettings(configs)})
	return nil
}

// publishLocked copies the topic map, lets change edit the copy and
// publishes it. adminMu must be held.
func (b *Broker) publishLocked(change func(*topicMap)) {
	old := b.topics.Load()
	m := &topicMap{byName: maps.Clone(old.byName), byID: maps.Clone(old.byID)}
	change(m)
	b.topics.Store(m)
}

func (b *Broker) openTopic(name string, id metadata.TopicID, n int32, configs map[string]string, fresh bool) (*Topic, error) {
	t := &Topic{Name: name, ID: id, schemas: &b.schemas}
	parts := make([]*Partition, 0, n)
	for i := int32(0); i < n; i++ {
		p, err := b.openPartition(t, i, configs, fresh)
		if err != nil {
			for _, p := range parts {
				p.Log.Close()
			}
			return nil, err
		}
		parts = append(parts, p)
	}
	t.state.Store(&topicState{parts: parts, configs: configs, settings: b.parseSettings(configs)})
	return t, nil
}

// openPartition opens one partition's log. A fresh partition's directory
// may be left over from a deleted topic of the same name whose removal was
// interrupted; it is removed first.
func (b *Broker) openPartition(t *Topic, i int32, configs map[string]string, fresh bool) (*Partition, error) {
	dir := b.partitionDir(t.Name, i)
	if fresh {
		if err := b.cfg.FS.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("remove stale %s: %w", dir, err)
		}
	}
	l, err := hlog.Open(dir, b.logConfig(configs), hlog.Options{FS: b.cfg.FS, Logger: b.logger, Now: b.cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("open partition %s-%d: %w", t.Name, i, err)
	}
	return &Partition{Topic: t, Index: i, Log: l, logger: b.logger}, nil
}

func (b *Broker) partitionDir(topic string, i int32) string {
	return filepath.Join(b.cfg.DataDir, fmt.Sprintf("%s-%d", topic, i))
}

// warnStrayDirs logs partition directories that belong to no topic (left by
// a delete that crashed before removing them); a later create of that
// topic removes them.
func (b *Broker) warnStrayDirs(tm *topicMap) {
	ents, err := b.cfg.FS.ReadDir(b.cfg.DataDir)
	if err != nil {
		return
	}
	want := map[string]bool{}
	for _, t := range tm.byName {
		for _, p := range t.partitions() {
			want[filepath.Base(b.partitionDir(t.Name, p.Index))] = true
		}
	}
	for _, e := range ents {
		if e.IsDir() && !want[e.Name()] {
			b.logger.Warn("data dir holds a directory that belongs to no topic", "dir", filepath.Join(b.cfg.DataDir, e.Name()))
		}
	}
}

func (b *Broker) maintainLoop() {
	defer b.wg.Done()
	tick := time.NewTicker(b.cfg.MaintainInterval)
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
		}
		b.maintain()
	}
}

// maintain runs retention, compaction and segment rolls on every partition.
func (b *Broker) maintain() {
	for _, t := range b.topics.Load().byName {
		for _, p := range t.partitions() {
			if err := p.Log.Maintain(); err != nil && !errors.Is(err, hlog.ErrClosed) {
				b.logger.Error("maintain partition", "topic", t.Name, "partition", p.Index, "err", err)
			}
		}
	}
}

// newClusterID makes a Kafka-style cluster id: 16 random bytes in
// unpadded URL-safe base64.
func newClusterID() string {
	id := newTopicID()
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func newTopicID() metadata.TopicID {
	var id metadata.TopicID
	for id == (metadata.TopicID{}) {
		if _, err := rand.Read(id[:]); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
	}
	return id
}

package broker

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
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
	DataDir string
	// NodeID is this broker's node.id: the scope of its own dynamic
	// configs (dynamic.go).
	NodeID int32
	// DefaultPartitions and AutoCreateTopics are the static
	// num.partitions and auto.create.topics.enable, which dynamic broker
	// configs override.
	DefaultPartitions int32  // for auto-created topics and CreateTopics with -1; default 1
	AutoCreateTopics  bool   // Metadata and Produce create unknown topics
	Durability        string // default herald.durability; default "always"
	// ConsumerSession and ConsumerHeartbeat are the consumer groups'
	// default session timeout and heartbeat interval (the coordinator's
	// ConsumerConfig), which group configs override (groupconfig.go);
	// default 45s and 5s.
	ConsumerSession, ConsumerHeartbeat time.Duration
	// MaintainInterval is how often every partition's Log.Maintain runs
	// (retention, compaction, segment age); default 30s.
	MaintainInterval time.Duration
	// MaxOpenFiles bounds the segment files open at once across every
	// partition (a descriptor cache, log.FileCache): idle files are
	// closed and reopened on use. Default (0): the soft RLIMIT_NOFILE
	// less a quarter of it, and at least 256, for connections and the
	// broker's other files; at least 64.
	MaxOpenFiles int
	FS           vfs.FS
	Logger       *slog.Logger
	Now          func() time.Time
}

// Broker owns the topics and their partition logs. All methods are safe for
// concurrent use.
type Broker struct {
	cfg        Config
	durability hlog.Durability
	clusterID  string
	logger     *slog.Logger
	storage    *hlog.Stats // every partition's syncs (StorageStats)

	// topics is an immutable snapshot, replaced whole under adminMu, so
	// that the produce and fetch paths look topics up without locking.
	topics atomic.Pointer[topicMap]

	// adminMu serializes changes to topics: each writes the metadata log
	// (an fsync) and then publishes a new snapshot. Lock order: adminMu
	// before any log's internal locks.
	adminMu sync.Mutex
	meta    *metadata.Log
	// scram is the SCRAM credentials replayed at Open (scram.go); set
	// once, before the broker is shared.
	scram map[metadata.ScramKey]metadata.Scram
	// creating holds the topics being created, by collision key (see
	// create.go), and growing the topics getting partitions; closing
	// refuses new ones. Guarded by adminMu.
	creating map[string]*pendingCreate
	growing  map[metadata.TopicID]bool
	closing  bool
	// creates counts creates and partition additions running; Close
	// waits for them (they stop early when b.stop closes).
	creates sync.WaitGroup

	// files is the descriptor cache every partition's segment files go
	// through.
	files *hlog.FileCache

	// lock is the data dir's exclusive lock, held from Open to Close.
	lock *vfs.DirLock

	// producers is the idempotence and transaction state every
	// partition consults (SetProducerState); nil without one.
	producers ProducerState

	// schemas checks record values on topics with
	// herald.schema.validation; nil until SetSchemaValidator.
	schemas atomic.Pointer[SchemaValidator]

	// dyn is the dynamic broker configs (dynamic.go), replaced whole
	// under dynMu, which serializes their changes (each an fsync of the
	// metadata log). Lock order: dynMu before adminMu (a topic default's
	// change re-applies topic configs), never the other way.
	dyn   atomic.Pointer[dynamicState]
	dynMu sync.Mutex
	// groupCfg is the consumer group configs by group (groupconfig.go),
	// replaced whole under dynMu; never nil after Open.
	groupCfg atomic.Pointer[map[string]map[string]string]

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

type topicMap struct {
	byName map[string]*Topic
	byID   map[metadata.TopicID]*Topic
}

// Open locks the data dir (creating it 0700 if needed), replays the
// metadata log and opens every partition log. It fails with an error that
// matches vfs.ErrLocked, naming the holder's pid, when another broker (or
// `herald repair`) has the dir, and with one that matches
// metadata.ErrCorrupt when the metadata is damaged.
func Open(cfg Config) (*Broker, error) {
	if cfg.DefaultPartitions <= 0 {
		cfg.DefaultPartitions = 1
	}
	if cfg.ConsumerSession <= 0 {
		cfg.ConsumerSession = 45 * time.Second
	}
	if cfg.ConsumerHeartbeat <= 0 {
		cfg.ConsumerHeartbeat = 5 * time.Second
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
	if cfg.MaxOpenFiles <= 0 {
		cfg.MaxOpenFiles = defaultMaxOpenFiles(fileLimit())
	}
	b := &Broker{cfg: cfg, durability: d, logger: cfg.Logger, stop: make(chan struct{}),
		files: hlog.NewFileCache(cfg.MaxOpenFiles), storage: hlog.NewStats(), creating: map[string]*pendingCreate{}, growing: map[metadata.TopicID]bool{}}
	if err := cfg.FS.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if b.lock, err = vfs.LockDir(cfg.DataDir); err != nil {
		return nil, err
	}
	if err := b.openLocked(); err != nil {
		b.lock.Unlock()
		return nil, err
	}
	b.wg.Add(1)
	go b.maintainLoop()
	return b, nil
}

// openLocked replays the metadata and opens every partition. The data dir
// lock must be held.
func (b *Broker) openLocked() error {
	meta, st, err := metadata.Open(b.cfg.FS, b.cfg.DataDir, b.logger)
	if err != nil {
		return err
	}
	b.meta = meta
	b.scram = st.Scram
	b.setDynamic(st.BrokerConfigs)
	groups := st.GroupConfigs
	b.groupCfg.Store(&groups)
	b.clusterID = st.ClusterID
	if b.clusterID == "" {
		b.clusterID = newClusterID()
		if err := meta.Append(metadata.Record{Type: metadata.SetClusterID, ClusterID: b.clusterID}); err != nil {
			meta.Close()
			return err
		}
	}
	tm := &topicMap{byName: map[string]*Topic{}, byID: map[metadata.TopicID]*Topic{}}
	start, shown, parts := time.Now(), time.Now(), 0
	for i, mt := range st.Topics {
		if time.Since(shown) >= progressEvery {
			shown = time.Now()
			b.logger.Info("opening topics", "done", i, "of", len(st.Topics), "partitions", parts, "elapsed", time.Since(start).Round(time.Millisecond))
		}
		parts += int(mt.Partitions)
		t, err := b.openTopic(mt.Name, mt.ID, mt.Partitions, mt.Configs, false)
		if err != nil {
			closeTopics(tm)
			meta.Close()
			return err
		}
		tm.byName[t.Name], tm.byID[t.ID] = t, t
	}
	b.topics.Store(tm)
	b.logger.Info("opened topics", "topics", len(tm.byName), "partitions", parts, "elapsed", time.Since(start).Round(time.Millisecond))
	b.warnStrayDirs(tm)
	return nil
}

// Close stops maintenance and syncs and closes every partition log. It is
// idempotent.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		close(b.stop)
		b.wg.Wait()
		b.adminMu.Lock()
		b.closing = true
		b.adminMu.Unlock()
		b.creates.Wait()
		b.adminMu.Lock()
		defer b.adminMu.Unlock()
		b.closeErr = errors.Join(closeTopics(b.topics.Load()), b.meta.Close(), b.lock.Unlock())
	})
	return b.closeErr
}

// closeTopics closes every partition, openWorkers at a time (each close
// fsyncs the log end checkpoint).
func closeTopics(tm *topicMap) error {
	var all []*Partition
	for _, t := range tm.byName {
		all = append(all, t.partitions()...)
	}
	errs := make([]error, len(all))
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(openWorkers, len(all)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(len(all)); i = next.Add(1) - 1 {
				if err := all[i].log.Close(); err != nil {
					errs[i] = fmt.Errorf("close %s-%d: %w", all[i].Topic.Name, all[i].Index, err)
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Sync makes every partition durable.
func (b *Broker) Sync() error {
	var errs []error
	for _, t := range b.topics.Load().byName {
		for _, p := range t.partitions() {
			errs = append(errs, p.log.Sync())
		}
	}
	return errors.Join(errs...)
}

// SetProducerState installs the producer state (txn.Manager) that every
// partition's appends and reads consult. It must be called before the
// broker is used.
func (b *Broker) SetProducerState(ps ProducerState) { b.producers = ps }

// ClusterID is the data dir's cluster id, made when the dir was new.
func (b *Broker) ClusterID() string { return b.clusterID }

// DataDir is the directory the broker keeps its data in.
func (b *Broker) DataDir() string { return b.cfg.DataDir }

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

// defaultMaxOpenFiles is Config.MaxOpenFiles's default for a soft
// RLIMIT_NOFILE of limit (0: unknown).
func defaultMaxOpenFiles(limit uint64) int {
	const most = 1 << 20
	if limit == 0 || limit > most {
		limit = most
	}
	return max(64, int(limit)-max(256, int(limit)/4))
}

// FileStats returns the segment file descriptor cache's counters.
func (b *Broker) FileStats() hlog.FileCacheStats { return b.files.Stats() }

// MaxPartitions bounds a topic's partition count.
const MaxPartitions = 100000

// AutoCreate creates name with the default partitions if auto-creation is
// on; it returns the existing topic if another request created it first.
func (b *Broker) AutoCreate(name string) (*Topic, error) {
	if !b.AutoCreateTopics() {
		return nil, kafkaErr(kerr.UnknownTopicOrPartition, "")
	}
	t, err := b.CreateTopic(name, -1, nil, false)
	if errors.Is(err, kerr.TopicAlreadyExists) {
		b.waitCreate(name)
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
		errs = append(errs, p.log.Remove())
	}
	b.logger.Info("deleted topic", "topic", t.Name, "id", t.ID)
	return errors.Join(errs...)
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
		if err := p.log.SetConfig(lc); err != nil {
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

// openTopic opens the topic's partitions. If one fails, those opened are
// closed, and when fresh (a new topic) their directories are removed.
func (b *Broker) openTopic(name string, id metadata.TopicID, n int32, configs map[string]string, fresh bool) (*Topic, error) {
	t := &Topic{Name: name, ID: id, schemas: &b.schemas}
	parts, err := b.openPartitions(t, 0, n, configs, fresh)
	if err != nil {
		return nil, err
	}
	t.state.Store(&topicState{parts: parts, configs: configs, settings: b.parseSettings(configs)})
	return t, nil
}

// openPartitions opens t's partitions from to n-1, openWorkers at a time
// (opening a log is mostly directory fsyncs, which the filesystem's
// journal commits together), logging progress when it takes a while. If
// one fails, those opened are closed, and when fresh (new partitions)
// their directories are removed. A fresh open stops early when the broker
// is closing.
func (b *Broker) openPartitions(t *Topic, from, n int32, configs map[string]string, fresh bool) ([]*Partition, error) {
	parts := make([]*Partition, n-from)
	errs := make([]error, n-from)
	prog := b.newProgress(t.Name, from, n, fresh)
	var (
		next   atomic.Int32
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	next.Store(from)
	for range min(openWorkers, int(n-from)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < n && !failed.Load(); i = next.Add(1) - 1 {
				err := b.stopping(fresh)
				if err == nil {
					parts[i-from], err = b.openPartition(t, i, configs, fresh)
				}
				if err != nil {
					errs[i-from] = err
					failed.Store(true)
					return
				}
				prog.step()
			}
		}()
	}
	wg.Wait()
	if !failed.Load() {
		// The partitions' directory entries in the data dir.
		if err := b.cfg.FS.SyncDir(b.cfg.DataDir); err != nil {
			errs[0] = fmt.Errorf("sync data dir: %w", err)
			failed.Store(true)
		}
	}
	if !failed.Load() {
		prog.done()
		return parts, nil
	}
	var opened []*Partition
	for _, p := range parts {
		if p != nil {
			opened = append(opened, p)
		}
	}
	if !fresh {
		for _, p := range opened {
			p.log.Close()
		}
		return nil, errors.Join(errs...)
	}
	b.discardPartitions(opened)
	for i, err := range errs {
		if err != nil && parts[i] == nil {
			b.removeFailedDir(t.Name, from+int32(i), err)
		}
	}
	return nil, errors.Join(errs...)
}

// openWorkers is how many partitions of a topic open at once.
const openWorkers = 16

// openPartition opens one partition's log. A fresh partition's directory
// may be left over from a create that failed or crashed before its
// metadata record (new and empty: it is removed) or from a delete whose
// removal was interrupted, or it may be data whose metadata was lost: a
// directory holding any data is never wiped, it is renamed aside to
// <dir>.orphaned.<unix nanos> and logged.
func (b *Broker) openPartition(t *Topic, i int32, configs map[string]string, fresh bool) (*Partition, error) {
	dir := b.partitionDir(t.Name, i)
	if fresh {
		if err := b.clearFreshDir(dir); err != nil {
			return nil, &notClearedError{err}
		}
	} else if _, err := b.cfg.FS.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		// Starting it empty would hand out its offsets again.
		return nil, fmt.Errorf("partition %s-%d: its directory %s is missing, so its records are gone or were moved: restore it; or, to accept the loss (offsets start again at 0), create it empty and restart", t.Name, i, dir)
	}
	// openPartitions syncs the data dir once for all the partitions.
	l, err := hlog.Open(dir, b.logConfig(configs), hlog.Options{FS: b.cfg.FS, Logger: b.logger, Now: b.cfg.Now,
		Files: b.files, SkipParentSync: true, Stats: b.storage})
	if err != nil {
		return nil, fmt.Errorf("open partition %s-%d: %w", t.Name, i, err)
	}
	return &Partition{Topic: t, Index: i, log: l, logger: b.logger, prod: &b.producers}, nil
}

// clearFreshDir makes way for a new partition at dir.
func (b *Broker) clearFreshDir(dir string) error {
	ents, err := b.cfg.FS.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect stale %s: %w", dir, err)
	}
	if isEmptyPartition(ents, func(name string) ([]byte, error) { return readSmall(b.cfg.FS, filepath.Join(dir, name)) }) {
		if err := b.cfg.FS.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove stale %s: %w", dir, err)
		}
		return nil
	}
	aside := fmt.Sprintf("%s.orphaned.%d", dir, b.cfg.Now().UnixNano())
	if err := b.cfg.FS.Rename(dir, aside); err != nil {
		return fmt.Errorf("move aside stale %s: %w", dir, err)
	}
	if err := b.cfg.FS.SyncDir(b.cfg.DataDir); err != nil {
		return fmt.Errorf("move aside stale %s: %w", dir, err)
	}
	b.logger.Warn("a new partition's directory held data that no topic owns; moved it aside, not deleted", "dir", dir, "moved_to", aside)
	return nil
}

// isEmptyPartition reports whether a partition directory holds no record:
// nothing, or only a first segment whose log file is empty (its indexes
// and a log end checkpoint of 0, written at a clean close, may be there
// too). read reads a file of the directory.
func isEmptyPartition(ents []os.DirEntry, read func(name string) ([]byte, error)) bool {
	const first = "00000000000000000000"
	for _, e := range ents {
		switch e.Name() {
		case first + ".index", first + ".timeindex":
			continue
		case "log-end-offset": // internal/log's checkpoint: "<offset> <crc>"
			if b, err := read(e.Name()); err != nil || !bytes.HasPrefix(b, []byte("0 ")) {
				return false
			}
			continue
		case first + ".log":
			fi, err := e.Info()
			if err != nil || fi.Size() != 0 {
				return false
			}
			continue
		}
		return false
	}
	return true
}

// readSmall reads the first bytes (at most 64) of a small file.
func readSmall(fsys vfs.FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, 64)
	n, err := f.ReadAt(b, 0)
	if n > 0 {
		err = nil
	}
	return b[:n], err
}

// discardPartitions closes and removes new partitions whose topic (or
// partition count) never reached the metadata log.
func (b *Broker) discardPartitions(parts []*Partition) {
	for _, p := range parts {
		if err := p.log.Close(); err != nil {
			b.logger.Warn("close partition of a failed create", "topic", p.Topic.Name, "partition", p.Index, "err", err)
		}
		dir := b.partitionDir(p.Topic.Name, p.Index)
		if err := b.cfg.FS.RemoveAll(dir); err != nil {
			b.logger.Warn("remove partition of a failed create; the next create of the topic removes it", "dir", dir, "err", err)
		}
	}
}

// notClearedError is a fresh partition's failure to make way for itself:
// whatever is in its directory is not the broker's to remove.
type notClearedError struct{ error }

func (e *notClearedError) Unwrap() error { return e.error }

// removeFailedDir removes what a fresh partition that failed to open with
// err left in its directory, unless the failure came before the directory
// was cleared (and so ours). It runs after discardPartitions, whose closes
// give back the file descriptors that running out of may have been the
// failure.
func (b *Broker) removeFailedDir(topic string, i int32, err error) {
	var nc *notClearedError
	if errors.As(err, &nc) {
		return
	}
	dir := b.partitionDir(topic, i)
	if err := b.cfg.FS.RemoveAll(dir); err != nil {
		b.logger.Warn("remove partition of a failed create; the next create of the topic removes it", "dir", dir, "err", err)
	}
}

// createErr is a failed create's error for the client:
// KAFKA_STORAGE_ERROR with what failed and its cause (never the server's
// file paths), unless err already carries a code. The full error is logged.
func (b *Broker) createErr(what string, err error) error {
	var be *Error
	if errors.As(err, &be) {
		return err
	}
	b.logger.Error(what+" failed; nothing was created", "err", err)
	return &Error{Kafka: kerr.KafkaStorageError, Message: fmt.Sprintf("%s: %s (nothing was created)", what, storageCause(err))}
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
		if e.IsDir() && !want[e.Name()] && e.Name() != CorrelationIndexDir {
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
			if err := p.log.Maintain(); err != nil && !errors.Is(err, hlog.ErrClosed) {
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

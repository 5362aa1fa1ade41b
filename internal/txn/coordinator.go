package txn

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/group"
	"github.com/heraldhq/herald/internal/records"
)

// Config configures a Coordinator.
type Config struct {
	Broker    *broker.Broker
	Groups    *group.Coordinator // where committed transactional offsets go; nil: none
	Producers *Manager
	Logger    *slog.Logger
	Now       func() time.Time
	// MaxTimeout is transaction.max.timeout.ms; default 15 minutes.
	MaxTimeout time.Duration
	// AbortCheck is how often open transactions are checked for their
	// timeout; default 1s.
	AbortCheck time.Duration
}

// Coordinator is the transaction coordinator: producer ids, and the state
// of every transactional id, persisted in __transaction_state and
// replayed by Open. All methods are safe for concurrent use.
//
// Locking: a txn's op mutex serializes the requests of one transactional
// id and is held across their IO (log writes, markers, fsyncs). Below it,
// writeMu orders appends to __transaction_state with publishing what they
// record, and mu guards the maps and every published meta. Lock order:
// txn.op, then Manager and partition locks (markers), then writeMu, then
// mu. mu is held only for map and field access, never across IO, so the
// Manager may call Verify (which takes mu) under a partition lock.
type Coordinator struct {
	cfg    Config
	b      *broker.Broker
	pm     *Manager
	logger *slog.Logger
	topic  *broker.Topic

	writeMu sync.Mutex

	mu struct {
		sync.Mutex
		txns  map[string]*txn
		byPID map[int64]*txn
		// nextPID < blockEnd, or a new block must be written first.
		nextPID, blockEnd int64
		closed            bool
	}

	stop chan struct{}
	wg   sync.WaitGroup
}

// txn is one transactional id.
type txn struct {
	op sync.Mutex
	m  *meta // guarded by Coordinator.mu; replaced whole, never mutated
}

// Errors.
var (
	ErrClosed = errors.New("transaction coordinator closed")
)

// Open creates __transaction_state if needed, replays it, completes the
// transactions a crash left half-ended and starts the timeout loop.
func Open(cfg Config) (*Coordinator, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 15 * time.Minute
	}
	if cfg.AbortCheck <= 0 {
		cfg.AbortCheck = time.Second
	}
	if cfg.Producers == nil {
		return nil, errors.New("txn: Config.Producers is required")
	}
	c := &Coordinator{cfg: cfg, b: cfg.Broker, pm: cfg.Producers, logger: cfg.Logger, stop: make(chan struct{})}
	c.mu.txns, c.mu.byPID = map[string]*txn{}, map[int64]*txn{}
	t := c.b.Topic(TopicName)
	if t == nil {
		var err error
		t, err = c.b.CreateTopic(TopicName, 1, map[string]string{"cleanup.policy": "compact"}, false)
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", TopicName, err)
		}
	}
	c.topic = t
	if err := c.replay(); err != nil {
		return nil, fmt.Errorf("replay %s: %w", TopicName, err)
	}
	c.pm.SetVerifier(c.verify)
	for _, t := range c.snapshotTxns() {
		if m := c.metaOf(t); m.state == PrepareCommit || m.state == PrepareAbort {
			t.op.Lock()
			if err := c.complete(t, m); err != nil {
				c.logger.Error("complete transaction at start", "transactional_id", m.id, "err", err)
			}
			t.op.Unlock()
		}
	}
	c.wg.Add(1)
	go c.timeoutLoop()
	return c, nil
}

// Close stops the timeout loop. It is idempotent.
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

func (c *Coordinator) nowMs() int64 { return c.cfg.Now().UnixMilli() }

// ---- replay ----

func (c *Coordinator) replay() error {
	pending := map[string]*offsetsRecord{}
	n := 0
	for _, p := range c.topic.Partitions() {
		err := eachRecord(p, func(key, value []byte) {
			e, err := decodeLogEntry(key, value)
			if err != nil {
				c.logger.Warn("skipping unreadable __transaction_state record", "err", err)
				return
			}
			n++
			switch e.kind {
			case keyPIDBlock:
				c.mu.blockEnd = max(c.mu.blockEnd, e.blockEnd)
			case keyOffsets:
				pending[e.id] = e.offsets
			case keyTxnMeta:
				if e.meta == nil {
					if t := c.mu.txns[e.id]; t != nil {
						delete(c.mu.byPID, t.m.pid)
						delete(c.mu.txns, e.id)
					}
					return
				}
				c.publishLocked(c.txnLocked(e.id), e.meta)
				c.mu.blockEnd = max(c.mu.blockEnd, e.meta.pid+1)
			}
		})
		if err != nil {
			return err
		}
	}
	for id, t := range c.mu.txns {
		m := t.m
		if m.offsets == nil {
			m.offsets = map[string]map[group.TopicPartition]group.Offset{}
		}
		if r := pending[id]; r != nil && m.open() && r.PID == m.pid && r.Epoch == m.epoch {
			m.offsets = r.toMap()
		}
	}
	c.mu.nextPID = c.mu.blockEnd
	if n > 0 {
		c.logger.Info("replayed transaction log", "records", n, "transactional_ids", len(c.mu.txns))
	}
	return nil
}

// eachRecord calls fn with every record of the non-control batches of p.
func eachRecord(p *broker.Partition, fn func(key, value []byte)) error {
	var scratch []byte
	return p.Scan(0, func(batch []byte) error {
		var err error
		scratch, err = records.EachRecord(batch, scratch, func(r *records.Record) { fn(r.Key, r.Value) })
		return err
	})
}

// ---- state access ----

// txnLocked returns id's txn, making an empty one. mu must be held.
func (c *Coordinator) txnLocked(id string) *txn {
	t := c.mu.txns[id]
	if t == nil {
		t = &txn{}
		c.mu.txns[id] = t
	}
	return t
}

// publishLocked makes m the txn's state. mu must be held.
func (c *Coordinator) publishLocked(t *txn, m *meta) {
	if t.m != nil && c.mu.byPID[t.m.pid] == t {
		delete(c.mu.byPID, t.m.pid)
	}
	t.m = m
	c.mu.byPID[m.pid] = t
}

func (c *Coordinator) metaOf(t *txn) *meta {
	c.mu.Lock()
	defer c.mu.Unlock()
	return t.m
}

func (c *Coordinator) lookup(id string) *txn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.txns[id]
}

func (c *Coordinator) snapshotTxns() []*txn {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*txn, 0, len(c.mu.txns))
	for _, t := range c.mu.txns {
		out = append(out, t)
	}
	return out
}

// ---- persistence ----

// persist writes m (and any extra records) to the transaction log,
// publishes it, and returns once it is durable.
func (c *Coordinator) persist(t *txn, m *meta, extra ...[2][]byte) error {
	kvs := append([][2][]byte{{metaKey(m.id), metaValue(m)}}, extra...)
	return c.write(kvs, func() { c.publishLocked(t, m) })
}

// write appends one batch and, under mu, applies what it records; it
// returns after the batch is durable.
func (c *Coordinator) write(kvs [][2][]byte, apply func()) error {
	a, err := c.appendRecords(kvs, apply)
	if err != nil {
		return err
	}
	return a.Durable()
}

// appendRecords is write without the wait for durability.
func (c *Coordinator) appendRecords(kvs [][2][]byte, apply func()) (broker.Appended, error) {
	batch, err := records.KeyValueBatch(c.nowMs(), kvs)
	if err != nil {
		return broker.Appended{}, err
	}
	p := c.topic.Partitions()[0]
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	a, err := p.Write(batch)
	if err == nil {
		c.mu.Lock()
		apply()
		c.mu.Unlock()
	}
	return a, err
}

// allocPID returns a new producer id; the block it comes from is durable
// first, so ids never repeat across restarts.
func (c *Coordinator) allocPID() (int64, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	if c.mu.nextPID < c.mu.blockEnd {
		id := c.mu.nextPID
		c.mu.nextPID++
		c.mu.Unlock()
		return id, nil
	}
	end := c.mu.blockEnd + pidBlockSize
	c.mu.Unlock()
	batch, err := records.KeyValueBatch(c.nowMs(), [][2][]byte{{pidBlockKey(), pidBlockValue(end)}})
	if err != nil {
		return 0, err
	}
	a, err := c.topic.Partitions()[0].Write(batch)
	if err == nil {
		err = a.Durable()
	}
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.blockEnd = end
	id := c.mu.nextPID
	c.mu.nextPID++
	return id, nil
}

// mustPID allocates a producer id for a bump; a failure to write the
// block is rare (storage failure) and reported as -1, which the caller
// turns into an error.
func (c *Coordinator) mustPID() int64 {
	id, err := c.allocPID()
	if err != nil {
		c.logger.Error("allocate producer id", "err", err)
		return -1
	}
	return id
}

// ---- completing transactions ----

// end moves an Ongoing transaction to Prepare*, persists that, and
// completes it. t.op must be held.
func (c *Coordinator) end(t *txn, m *meta, commit bool) error {
	prep := m.clone()
	prep.state, prep.updated = PrepareAbort, c.nowMs()
	if commit {
		prep.state = PrepareCommit
	}
	if err := c.persist(t, prep); err != nil {
		return err
	}
	return c.complete(t, prep)
}

// complete writes the markers of a Prepare* transaction to its
// partitions, commits its offsets to their groups (commit), and records
// it complete. It may run again after a crash or a failure: markers and
// offset commits are idempotent, so the Complete* record need not be
// durable before the answer (a crash before it is replayed as Prepare*
// and completed again). t.op must be held.
func (c *Coordinator) complete(t *txn, m *meta) error {
	waits, err := c.markAndCommit(m)
	if err != nil {
		return err
	}
	return c.finish(t, m, waits)
}

// completeAsync is complete that returns once the markers are appended
// and the offsets committed, leaving the markers' fsyncs and the
// Complete* record to a goroutine that then unlocks t.op. The decision is
// durable already (Prepare*), so the producer may go on; its next request
// on the transactional id waits for t.op. Readers see the outcome when
// the markers are durable (the last stable offset never passes the high
// watermark). t.op must be held; the caller hands it over.
func (c *Coordinator) completeAsync(t *txn, m *meta) error {
	waits, err := c.markAndCommit(m)
	if err != nil {
		return err
	}
	c.wg.Go(func() {
		defer t.op.Unlock()
		if err := c.finish(t, m, waits); err != nil {
			c.logger.Error("complete transaction; the next request retries", "transactional_id", m.id, "err", err)
		}
	})
	return nil
}

// markerWait is a marker appended and not yet known durable.
type markerWait struct {
	p *broker.Partition
	a broker.Appended
}

// markAndCommit appends m's markers and, for a commit, commits its
// offsets to their groups (in parallel; each group commit waits for its
// fsync).
func (c *Coordinator) markAndCommit(m *meta) ([]markerWait, error) {
	commit := m.state == PrepareCommit
	var waits []markerWait
	for _, tp := range m.partitions() {
		tt := c.b.Topic(tp.Topic)
		if tt == nil {
			continue // deleted: nothing to mark
		}
		p := tt.Partition(tp.Partition)
		if p == nil {
			continue
		}
		a, err := c.pm.WriteMarker(p, m.pid, m.epoch, commit, 0)
		if errors.Is(err, kerr.ProducerFenced) {
			c.logger.Warn("marker from an older epoch skipped", "transactional_id", m.id, "topic", tp.Topic, "partition", tp.Partition)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("write marker to %s-%d: %w", tp.Topic, tp.Partition, err)
		}
		waits = append(waits, markerWait{p, a})
	}
	if !commit || c.cfg.Groups == nil {
		return waits, nil
	}
	var (
		wg   sync.WaitGroup
		emu  sync.Mutex
		errs []error
	)
	now := c.nowMs()
	for g, offs := range m.offsets {
		if len(offs) == 0 {
			continue
		}
		stamped := make(map[group.TopicPartition]group.Offset, len(offs))
		for tp, o := range offs {
			o.CommitTime = now
			stamped[tp] = o
		}
		wg.Go(func() {
			if err := c.cfg.Groups.Commit(g, stamped); err != nil {
				emu.Lock()
				errs = append(errs, fmt.Errorf("commit offsets of group %s: %w", g, err))
				emu.Unlock()
			}
		})
	}
	wg.Wait()
	return waits, errors.Join(errs...)
}

// finish waits for the markers to be durable (their fsyncs in parallel)
// and appends the Complete* record without waiting for it.
func (c *Coordinator) finish(t *txn, m *meta, waits []markerWait) error {
	var (
		wg   sync.WaitGroup
		emu  sync.Mutex
		errs []error
	)
	for _, w := range waits {
		wg.Go(func() {
			if err := w.a.Durable(); err != nil {
				emu.Lock()
				errs = append(errs, fmt.Errorf("sync marker to %s-%d: %w", w.p.Topic.Name, w.p.Index, err))
				emu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	done := m.ended(m.state == PrepareCommit, c.nowMs())
	kvs := [][2][]byte{{metaKey(done.id), metaValue(done)}}
	if len(m.offsets) > 0 {
		kvs = append(kvs, [2][]byte{offsetsKey(m.id), nil})
	}
	_, err := c.appendRecords(kvs, func() { c.publishLocked(t, done) })
	return err
}

// ---- timeouts ----

func (c *Coordinator) timeoutLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(c.cfg.AbortCheck)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		c.abortTimedOut()
	}
}

// abortTimedOut aborts every Ongoing transaction older than its timeout,
// bumping the epoch so the producer is fenced (Kafka does the same).
func (c *Coordinator) abortTimedOut() {
	now := c.nowMs()
	for _, t := range c.snapshotTxns() {
		m := c.metaOf(t)
		if m == nil || m.state != Ongoing || now-m.start < int64(m.timeoutMs) {
			continue
		}
		t.op.Lock()
		m = c.metaOf(t)
		if m.state == Ongoing && now-m.start >= int64(m.timeoutMs) {
			b := m.bumped(c.mustPID)
			if b.pid < 0 {
				t.op.Unlock()
				continue
			}
			c.logger.Info("aborting timed out transaction", "transactional_id", m.id, "producer_id", m.pid, "epoch", m.epoch)
			if err := c.end(t, b, false); err != nil {
				c.logger.Error("abort timed out transaction", "transactional_id", m.id, "err", err)
			} else {
				c.mu.Lock()
				if t.m.epoch == b.epoch {
					tm := t.m.clone()
					tm.timedOut = true
					t.m = tm
				}
				c.mu.Unlock()
			}
		}
		t.op.Unlock()
	}
}

// ---- verification for the produce path ----

// verify is the Manager's Verifier: the partition must be in pid's
// Ongoing transaction at epoch.
func (c *Coordinator) verify(pid int64, epoch int16, topic string, partition int32) *kerr.Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.mu.byPID[pid]
	switch {
	case t == nil:
		return kerr.InvalidProducerIDMapping
	case epoch < t.m.epoch:
		return kerr.InvalidProducerEpoch
	case epoch > t.m.epoch || t.m.state != Ongoing || !t.m.parts[group.TopicPartition{Topic: topic, Partition: partition}]:
		return kerr.InvalidTxnState
	}
	return nil
}

// Pending reports whether an open transaction holds an uncommitted offset
// for group's tp (OffsetFetch with RequireStable answers
// UNSTABLE_OFFSET_COMMIT then).
func (c *Coordinator) Pending(groupID string, tp group.TopicPartition) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.mu.txns {
		if t.m.open() {
			if _, ok := t.m.offsets[groupID][tp]; ok {
				return true
			}
		}
	}
	return false
}

// ---- describing ----

// Description is a transactional id as DescribeTransactions shows it.
type Description struct {
	ID         string
	State      State
	TimeoutMs  int32
	StartMs    int64 // -1 when no transaction is open
	ProducerID int64
	Epoch      int16
	Partitions []group.TopicPartition
}

// Describe returns id's state; ok is false for an unknown id.
func (c *Coordinator) Describe(id string) (Description, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.mu.txns[id]
	if t == nil || t.m == nil {
		return Description{}, false
	}
	return describe(t.m), true
}

func describe(m *meta) Description {
	d := Description{ID: m.id, State: m.state, TimeoutMs: m.timeoutMs, StartMs: -1, ProducerID: m.pid, Epoch: m.epoch,
		Partitions: m.partitions()}
	if m.open() {
		d.StartMs = m.start
	}
	return d
}

// ListFilter selects transactions for List; zero fields select all.
type ListFilter struct {
	States      []string
	ProducerIDs []int64
	MinDuration time.Duration // open at least this long (0: any)
	IDPattern   *regexp.Regexp
}

// List returns the transactional ids the filter selects, sorted.
func (c *Coordinator) List(f ListFilter) []Description {
	now := c.nowMs()
	c.mu.Lock()
	var out []Description
	for _, t := range c.mu.txns {
		m := t.m
		switch {
		case len(f.States) > 0 && !slices.Contains(f.States, m.state.String()):
		case len(f.ProducerIDs) > 0 && !slices.Contains(f.ProducerIDs, m.pid):
		case f.MinDuration > 0 && (!m.open() || now-m.start < f.MinDuration.Milliseconds()):
		case f.IDPattern != nil && !f.IDPattern.MatchString(m.id):
		default:
			out = append(out, describe(m))
		}
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Description) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// Verify checks, without changing anything, that tp is in id's ongoing
// transaction at pid and epoch (AddPartitionsToTxn v4 VerifyOnly).
func (c *Coordinator) Verify(id string, pid int64, epoch int16, tp group.TopicPartition) *kerr.Error {
	c.mu.Lock()
	t := c.mu.txns[id]
	c.mu.Unlock()
	if t == nil {
		return kerr.InvalidProducerIDMapping
	}
	return c.verify(pid, epoch, tp.Topic, tp.Partition)
}

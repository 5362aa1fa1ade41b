package txn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/broker"
	hlog "github.com/heraldhq/herald/internal/log"
	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/vfs"
)

// Verifier says whether producer pid at epoch has partition in its ongoing
// transaction. The coordinator provides it, so that a transactional batch
// for a partition the coordinator does not know of (a zombie, or a
// producer whose transaction was aborted) is refused instead of opening a
// transaction no marker will ever close.
type Verifier func(pid int64, epoch int16, topic string, partition int32) *kerr.Error

// Manager keeps the producer state of every partition: sequence numbers
// for idempotence, open transactions, the last stable offset and the
// aborted transactions. A partition's state is loaded on first use from
// its snapshot and the log after it. All methods are safe for concurrent
// use.
//
// Lock order: Manager.mu, then a partition's mu, then the partition log's
// locks. Log appends run under a partition's mu (they do not fsync);
// WaitDurable never does.
type Manager struct {
	fs     vfs.FS
	logger *slog.Logger
	now    func() time.Time
	verify Verifier

	mu struct {
		sync.Mutex
		parts  map[*broker.Partition]*partState
		closed bool
	}
	// loaded holds the partStates of mu.parts whose state is loaded
	// (*broker.Partition → *partState), for LastStable's lock-free
	// lookups.
	loaded sync.Map
}

// partState is one partition's state and the lock that orders its checks
// with its appends.
type partState struct {
	p  *broker.Partition
	mu sync.Mutex
	// Guarded by mu.
	st     *state // nil until loaded
	segs   int    // segment count at the last append, to notice rolls
	failed error  // the load failed; every use reports it
	// begins is set between Check and Done when the batch opens a
	// transaction, published ahead of its append.
	begins bool

	// open is a copy of st.open that LastStable reads without locks; nil
	// until loaded. It is republished under mu whenever st.open changes,
	// and a transaction's first batch is published, at an offset no
	// higher than its own, before it is appended: a reader that sees the
	// batch below the high watermark therefore sees the transaction.
	open atomic.Pointer[[]openTxn]
}

// publishLocked publishes a copy of st.open, plus extra if it is not nil.
// ps.mu must be held.
func (ps *partState) publishLocked(extra *openTxn) {
	open := make([]openTxn, len(ps.st.open), len(ps.st.open)+1)
	copy(open, ps.st.open)
	if extra != nil {
		open = append(open, *extra)
	}
	ps.open.Store(&open)
}

// lastStable is the last stable offset given the published open
// transactions and the high watermark hw: the first offset of the earliest
// transaction whose marker is not below hw, or hw.
func lastStable(open []openTxn, hw int64) int64 {
	lso := hw
	for _, o := range open {
		if o.marker < 0 || o.marker >= hw {
			lso = min(lso, o.first)
		}
	}
	return lso
}

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	FS     vfs.FS // default vfs.Default
	Logger *slog.Logger
	Now    func() time.Time
}

// NewManager returns an empty manager; states load on first use.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.FS == nil {
		cfg.FS = vfs.Default
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Manager{fs: cfg.FS, logger: cfg.Logger, now: cfg.Now}
	m.mu.parts = map[*broker.Partition]*partState{}
	return m
}

// SetVerifier installs the coordinator's check for transactional batches.
// It must be called before the manager is used.
func (m *Manager) SetVerifier(v Verifier) { m.verify = v }

// lock returns p's state, loaded, with its mu held.
func (m *Manager) lock(p *broker.Partition) (*partState, error) {
	m.mu.Lock()
	ps := m.mu.parts[p]
	if ps == nil {
		ps = &partState{p: p}
		m.mu.parts[p] = ps
	}
	m.mu.Unlock()
	ps.mu.Lock()
	if ps.st == nil && ps.failed == nil {
		ps.st, ps.failed = m.load(p)
		ps.segs = p.Segments()
		if ps.failed == nil {
			ps.publishLocked(nil)
			m.loaded.Store(p, ps)
		}
	}
	if ps.failed != nil {
		ps.mu.Unlock()
		return nil, ps.failed
	}
	return ps, nil
}

// Check checks a produced batch's producer id, epoch and sequence before
// the partition appends it (broker.ProducerState): a duplicate of one of
// the producer's last batches answers the original's result, a refused
// batch an error (see state.check). Otherwise p's state stays locked until
// Done, so that check, append and apply are one step. Errors are
// *broker.Error or kerr errors.
func (m *Manager) Check(p *broker.Partition, h records.Header, b []byte) (broker.ProducerCheck, error) {
	ps, err := m.lock(p)
	if err != nil {
		return broker.ProducerCheck{}, err
	}
	dup, kerrv := ps.st.check(h)
	if kerrv != nil {
		ps.mu.Unlock()
		return broker.ProducerCheck{}, kerrv
	}
	if dup != nil && records.CheckCRC(b) {
		res := dup.res
		res.BaseOffset, res.LastOffset = dup.firstOffset, dup.lastOffset
		ps.mu.Unlock()
		return broker.ProducerCheck{Duplicate: true, Original: res}, nil
	}
	if h.IsTransactional() && m.verify != nil {
		if pr := ps.st.producers[h.ProducerID()]; pr == nil || pr.txnFirst < 0 || h.ProducerEpoch() != pr.epoch {
			if err := m.verify(h.ProducerID(), h.ProducerEpoch(), p.Topic.Name, p.Index); err != nil {
				ps.mu.Unlock()
				return broker.ProducerCheck{}, err
			}
		}
	}
	if h.IsTransactional() && ps.st.beginsTxn(h.ProducerID()) {
		// Its offset is not known yet but is at least the log end now.
		ps.begins = true
		ps.publishLocked(&openTxn{pid: h.ProducerID(), first: p.LogEndOffset(), marker: -1})
	}
	return broker.ProducerCheck{State: ps}, nil
}

// Done applies an appended batch to its partition's producer state (or
// withdraws the transaction Check published for a batch that failed) and
// unlocks it.
func (m *Manager) Done(c broker.ProducerCheck, h records.Header, res hlog.AppendResult, err error) {
	ps := c.State.(*partState)
	defer ps.mu.Unlock()
	begins := ps.begins
	ps.begins = false
	if err != nil {
		if begins {
			ps.publishLocked(nil)
		}
		return
	}
	ps.st.apply(h, res)
	if begins {
		ps.st.lso(ps.p.HighWatermark()) // drops transactions now stable
		ps.publishLocked(nil)
	}
	m.maybeSnapshotLocked(ps, res.LastOffset+1)
}

// maybeSnapshotLocked writes the snapshot when the log has rolled a
// segment since the last append, so recovery scans at most about one
// segment. ps.mu must be held.
func (m *Manager) maybeSnapshotLocked(ps *partState, offset int64) {
	n := ps.p.Segments()
	if n == ps.segs {
		return
	}
	ps.segs = n
	m.snapshotLocked(ps, offset)
}

// snapshotLocked writes ps's snapshot as of offset. ps.mu must be held.
func (m *Manager) snapshotLocked(ps *partState, offset int64) {
	if err := writeSnapshot(m.fs, ps.p.Dir(), encodeSnapshot(ps.st, offset)); err != nil {
		m.logger.Warn("write producer snapshot; recovery will scan further", "topic", ps.p.Topic.Name,
			"partition", ps.p.Index, "err", err)
	}
}

// Control record types, in the key of a control record. Part of the wire
// format; do not change.
const (
	markerAbort  = 0
	markerCommit = 1
)

// controlBatch builds a transaction marker: one control record whose key
// is version int16 (0) | type int16 and whose value is version int16 (0) |
// coordinator epoch int32.
func controlBatch(pid int64, epoch int16, commit bool, coordEpoch int32, nowMs int64) ([]byte, error) {
	key := make([]byte, 4)
	if commit {
		binary.BigEndian.PutUint16(key[2:], markerCommit)
	}
	val := binary.BigEndian.AppendUint32(make([]byte, 2), uint32(coordEpoch))
	return records.NewBatch(records.BatchSpec{
		Attributes:    records.AttrControl | records.AttrTransactional,
		BaseTimestamp: nowMs, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1,
	}, records.Record{Key: key, Value: val})
}

// WriteMarker appends a commit or abort marker for pid to p and records
// it; the caller waits for durability with the result's Durable. A
// marker from an epoch older than p has seen is refused (PRODUCER_FENCED).
func (m *Manager) WriteMarker(p *broker.Partition, pid int64, epoch int16, commit bool, coordEpoch int32) (broker.Appended, error) {
	ps, err := m.lock(p)
	if err != nil {
		return broker.Appended{}, err
	}
	defer ps.mu.Unlock()
	if kerrv := ps.st.checkMarker(pid, epoch); kerrv != nil {
		return broker.Appended{}, kerrv
	}
	batch, err := controlBatch(pid, epoch, commit, coordEpoch, m.now().UnixMilli())
	if err != nil {
		return broker.Appended{}, err
	}
	a, err := p.Write(batch)
	if err != nil {
		return a, err
	}
	ps.st.applyMarker(pid, epoch, commit, a.BaseOffset)
	ps.publishLocked(nil)
	m.maybeSnapshotLocked(ps, a.LastOffset+1)
	return a, nil
}

// LastStable returns p's last stable offset (never above the high
// watermark), for read_committed reads and ListOffsets. Once p's state is
// loaded it takes no lock: it reads the published open transactions.
func (m *Manager) LastStable(p *broker.Partition) (int64, error) {
	if v, ok := m.loaded.Load(p); ok {
		ps := v.(*partState)
		// The open transactions are read between two reads of the high
		// watermark that agree, at h. A transaction published after
		// the read begins at or above the log end then, so at or
		// above h: missing it is harmless. One dropped from the list
		// before the read had its marker below the high watermark at
		// the time, so below h: lastStable would skip it too.
		for range 4 {
			h := p.HighWatermark()
			open := ps.open.Load()
			if p.HighWatermark() == h {
				return lastStable(*open, h), nil
			}
		}
	}
	ps, err := m.lock(p)
	if err != nil {
		return 0, err
	}
	defer ps.mu.Unlock()
	return ps.st.lso(p.HighWatermark()), nil
}

// Aborted returns p's aborted transactions that overlap [from, to).
func (m *Manager) Aborted(p *broker.Partition, from, to int64) ([]broker.AbortedTxn, error) {
	ps, err := m.lock(p)
	if err != nil {
		return nil, err
	}
	defer ps.mu.Unlock()
	ps.st.trimAborted(p.LogStartOffset())
	return ps.st.abortedIn(from, to), nil
}

// Producers lists p's producers (broker.ProducerState).
func (m *Manager) Producers(p *broker.Partition) ([]broker.ActiveProducer, error) {
	ps, err := m.lock(p)
	if err != nil {
		return nil, err
	}
	defer ps.mu.Unlock()
	return ps.st.active(), nil
}

// Close writes a snapshot of every loaded partition as of its log end, so
// the next start scans nothing. The broker closes the logs afterwards.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return
	}
	m.mu.closed = true
	parts := make([]*partState, 0, len(m.mu.parts))
	for _, ps := range m.mu.parts {
		parts = append(parts, ps)
	}
	m.mu.Unlock()
	for _, ps := range parts {
		ps.mu.Lock()
		if ps.st != nil && ps.p.Topic.Partition(ps.p.Index) == ps.p {
			m.snapshotLocked(ps, ps.p.LogEndOffset())
		}
		ps.mu.Unlock()
	}
}

// load rebuilds p's state: the snapshot if it is sound, then every batch
// header after it. Only the control records are decoded.
func (m *Manager) load(p *broker.Partition) (*state, error) {
	st, from := newState(), p.LogStartOffset()
	data, err := readSnapshot(m.fs, p.Dir())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		m.logger.Warn("read producer snapshot; scanning the log", "dir", p.Dir(), "err", err)
	default:
		s, off, derr := decodeSnapshot(data)
		switch {
		case derr != nil:
			m.logger.Warn("producer snapshot is damaged; scanning the log", "dir", p.Dir())
		case off > p.LogEndOffset():
			m.logger.Warn("producer snapshot is past the log end; scanning the log", "dir", p.Dir(),
				"snapshot", off, "log_end", p.LogEndOffset())
		default:
			st, from = s, max(off, from)
		}
	}
	if err := scanLog(p, from, st); err != nil {
		return nil, fmt.Errorf("rebuild producer state of %s-%d: %w", p.Topic.Name, p.Index, err)
	}
	st.trimAborted(p.LogStartOffset())
	return st, nil
}

// scanLog applies every batch from offset on to st.
func scanLog(p *broker.Partition, off int64, st *state) error {
	var scratch []byte
	return p.Scan(off, func(batch []byte) error {
		h := records.Header(batch)
		if !h.IsControl() {
			st.apply(h, hlog.AppendResult{})
			return nil
		}
		it, sc, err := records.Decode(batch, scratch)
		scratch = sc
		if err != nil {
			return err
		}
		if it.Next() {
			if k := it.Record().Key; len(k) >= 4 {
				st.applyMarker(h.ProducerID(), h.ProducerEpoch(), binary.BigEndian.Uint16(k[2:]) == markerCommit, h.BaseOffset())
			}
		}
		return nil
	})
}

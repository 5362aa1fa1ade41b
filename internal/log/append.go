package log

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/records"
)

// Append validates b, assigns it offsets and writes it. Under Always it
// returns only once the batch is durable.
//
// b must be exactly one RecordBatch v2. The log writes the base offset and
// leader epoch into b during the call and keeps no reference to it after.
// A batch that fails validation returns an error matching
// records.ErrInvalid (and records.ErrCorrupt for a CRC mismatch) and
// leaves the log unchanged.
func (l *Log) Append(b []byte) (AppendResult, error) {
	res, err := l.appendNoWait(b, false, Produce{LogAppendTime: -1})
	if err != nil {
		return res, err
	}
	return res, l.WaitDurable(res)
}

// AppendNoWait is Append without the wait for durability: the caller must
// call WaitDurable before acknowledging the batch. This lets one producer
// connection pipeline several appends that one fsync then covers.
func (l *Log) AppendNoWait(b []byte) (AppendResult, error) {
	return l.appendNoWait(b, true, Produce{LogAppendTime: -1})
}

// AppendLazy is AppendNoWait without waking the flusher: the caller must
// either call WaitDurable, which then leads the group-commit sync itself
// (saving the handoff to the flusher and back on every acknowledgement),
// or call SyncSoon. Until one of them runs, the batch is not durable and,
// under Always, not visible to readers.
// p says what the topic asks of the batch beyond validation.
func (l *Log) AppendLazy(b []byte, p Produce) (AppendResult, error) {
	return l.appendNoWait(b, false, p)
}

// Produce is what a topic asks of a produced batch on top of the log's
// validation, applied in the same pass so that nothing reads or rewrites
// the batch before its CRC has vouched for it.
type Produce struct {
	// LogAppendTime, when not negative, is stamped into the batch as
	// its max timestamp with the LogAppendTime attribute, after the
	// batch is validated (message.timestamp.type=LogAppendTime).
	LogAppendTime int64
	// RequireKeys refuses, with records.ErrInvalid, a batch holding a
	// record without a key (cleanup.policy=compact, as Kafka does).
	RequireKeys bool
}

// SyncSoon wakes the flusher to sync what has been appended; for appends
// made with AppendLazy that nobody will wait for.
func (l *Log) SyncSoon() { l.kickFlusher() }

// appendNoWait appends; kick wakes the flusher to sync it. Append leaves
// kick off because it leads the sync itself in WaitDurable.
func (l *Log) appendNoWait(b []byte, kick bool, p Produce) (AppendResult, error) {
	if err := validate(b, p.RequireKeys); err != nil {
		return AppendResult{}, err
	}
	if p.LogAppendTime >= 0 {
		records.SetLogAppendTime(b, p.LogAppendTime)
	}
	l.mu.Lock()
	res, always, err := l.appendLocked(b)
	l.mu.Unlock()
	if err != nil {
		return AppendResult{}, err
	}
	if always && kick {
		l.kickFlusher()
	} else if !always {
		l.advanceHW(res.LastOffset + 1)
	}
	return res, nil
}

// scratchPool holds decompression buffers for validating compressed
// batches.
var scratchPool = sync.Pool{New: func() any { return new([]byte) }}

// validate checks a produced batch completely: records.Validate checks the
// header, CRC and uncompressed records; a compressed batch is decompressed
// and its records checked too, as Kafka's broker does, so that no consumer
// is ever handed a batch it cannot parse.
func validate(b []byte, requireKeys bool) error {
	if err := records.Validate(b); err != nil {
		return err
	}
	h := records.Header(b)
	if h.Codec() == records.CodecNone {
		if requireKeys && !h.IsControl() {
			return checkKeys(records.NewIter(b[records.HeaderSize:], int(h.RecordCount())))
		}
		return nil
	}
	sp := scratchPool.Get().(*[]byte)
	it, scratch, err := records.DecodeValidated(b, *sp) // Validate checked the CRC
	if err == nil && requireKeys && !h.IsControl() {
		err = checkKeys(it)
	}
	if cap(scratch) <= 8<<20 {
		*sp = scratch[:0]
		scratchPool.Put(sp)
	}
	return err
}

// checkKeys walks a validated batch's records and refuses one without a
// key. An empty key is a key.
func checkKeys(it records.Iter) error {
	for i := 0; it.Next(); i++ {
		if it.Record().Key == nil {
			return &records.BatchError{Reason: fmt.Sprintf(
				"record %d has no key; a compacted topic (cleanup.policy=compact) accepts only records with keys", i)}
		}
	}
	return it.Err()
}

// appendLocked writes a validated batch to the active segment, rolling
// first if needed.
// mu must be held.
func (l *Log) appendLocked(b []byte) (AppendResult, bool, error) {
	// First, since Close may run while this waits.
	l.waitRollLocked()
	switch {
	case l.mu.closed:
		return AppendResult{}, false, ErrClosed
	case l.failed.Load():
		return AppendResult{}, false, ErrFailed
	}
	now := l.now()
	s := l.mu.segments[len(l.mu.segments)-1]
	if l.shouldRollLocked(s, len(b), now) {
		var err error
		if s, err = l.rollLocked(now); err != nil {
			return AppendResult{}, false, err
		}
		// mu was released during the roll.
		if l.failed.Load() {
			return AppendResult{}, false, ErrFailed
		}
	}
	cfg := &l.mu.cfg
	base := l.mu.next
	records.SetBaseOffset(b, base)
	records.SetLeaderEpoch(b, cfg.LeaderEpoch)
	if err := l.writeLocked(s, b); err != nil {
		return AppendResult{}, false, err
	}
	h := records.Header(b)
	s.addBatchLocked(h, s.size, cfg.IndexIntervalBytes)
	l.mu.next = h.LastOffset() + 1
	l.mu.written += uint64(len(b))
	l.mu.appends++
	if !cfg.Durability.Always {
		s.readable.Store(s.size)
	}
	res := AppendResult{
		BaseOffset:     base,
		LastOffset:     h.LastOffset(),
		LogAppendTime:  now.UnixMilli(),
		LogStartOffset: l.mu.logStart,
	}
	if cfg.Durability.Always {
		res.pos = l.mu.written
	}
	return res, cfg.Durability.Always, nil
}

// writeLocked writes b at the end of s. A failed or short write is undone
// by truncating back, so the file never holds a partial batch that a later
// append would bury; if even that fails the log is marked failed.
// mu must be held.
func (l *Log) writeLocked(s *segment, b []byte) error {
	n, err := s.file.Write(b)
	if err == nil && n == len(b) {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("short write: %d of %d bytes", n, len(b))
	}
	werr := fmt.Errorf("write segment %d: %w", s.base, err)
	if n > 0 {
		if terr := s.file.Truncate(s.size); terr != nil {
			l.fail(fmt.Errorf("%w; undoing it: %w", werr, terr))
			return errors.Join(werr, ErrFailed)
		}
	}
	if _, serr := s.file.Seek(s.size, 0); serr != nil {
		l.fail(fmt.Errorf("%w; seeking back: %w", werr, serr))
		return errors.Join(werr, ErrFailed)
	}
	return werr
}

// fail marks the log failed and wakes every waiter with err.
func (l *Log) fail(err error) {
	l.failed.Store(true)
	l.logger.Error("log failed; it refuses appends until reopened", "err", err)
	l.flush.Lock()
	if l.flush.err == nil {
		l.flush.err = errors.Join(err, ErrFailed)
	}
	l.flush.cond.Broadcast()
	l.flush.Unlock()
}

// shouldRollLocked reports whether the next batch of n bytes goes into a
// new segment: by size, by age, or because relative offsets or positions
// would no longer fit the indexes' 32 bits.
// mu must be held.
func (l *Log) shouldRollLocked(s *segment, n int, now time.Time) bool {
	if s.size == 0 {
		return false
	}
	cfg := &l.mu.cfg
	return s.size+int64(n) > cfg.SegmentBytes ||
		(cfg.SegmentAge > 0 && now.Sub(s.created) >= cfg.SegmentAge) ||
		l.mu.next-s.base >= math.MaxInt32 ||
		s.size+int64(n) > math.MaxUint32
}

// rollLocked closes the active segment and starts a new one at the log
// end offset. The old segment is synced first, so that only the last
// segment can ever hold a torn write; its indexes are written.
//
// That sync, the index files and the new segment's creation (a directory
// fsync) run with mu released: mu.rolling keeps appends and other rolls
// waiting meanwhile (they cannot go anywhere until the new segment exists),
// while reads, the flusher and offset queries go on. Nothing else changes
// the active segment: Close waits for the roll, and retention and
// compaction touch only closed segments.
// mu must be held; it is released and taken again.
func (l *Log) rollLocked(now time.Time) (*segment, error) {
	l.waitRollLocked()
	old := l.mu.segments[len(l.mu.segments)-1]
	if old.size == 0 {
		return old, nil
	}
	l.mu.rolling = true
	written, next := l.mu.written, l.mu.next
	l.mu.Unlock()
	s, err := l.rollUnlocked(old, next, now)
	l.mu.Lock()
	l.mu.rolling = false
	l.mu.rolled.Broadcast()
	if err != nil {
		return nil, err
	}
	old.readable.Store(old.size)
	l.advanceHW(next)
	l.markSynced(written)
	l.mu.segments = append(l.mu.segments, s)
	return s, nil
}

// rollUnlocked is the IO of a roll: sync old, write its indexes, and
// create the segment that starts at next.
// mu must not be held; mu.rolling must be set by the caller.
func (l *Log) rollUnlocked(old *segment, next int64, now time.Time) (*segment, error) {
	if err := old.file.Sync(); err != nil {
		err = fmt.Errorf("sync segment %d before roll: %w", old.base, err)
		l.fail(err)
		return nil, errors.Join(err, ErrFailed)
	}
	if err := old.writeIndexes(l.fs, l.dir); err != nil {
		l.logger.Warn("writing indexes of closed segment; they will be rebuilt at open", "segment", old.base, "err", err)
	}
	return l.createSegment(next, now)
}

// waitRollLocked waits until no roll is running.
// mu must be held (for writing).
func (l *Log) waitRollLocked() {
	for l.mu.rolling {
		l.mu.rolled.Wait()
	}
}

// createSegment creates an empty segment file and makes its directory
// entry durable. It needs no lock: only a roll (or Open) creates segments.
func (l *Log) createSegment(base int64, now time.Time) (*segment, error) {
	name := segmentName(l.dir, base, logSuffix)
	f, err := l.openFile(name, os.O_CREATE|os.O_RDWR|os.O_TRUNC)
	if err != nil {
		return nil, fmt.Errorf("create segment %d: %w", base, err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		f.Close()
		l.fs.Remove(name)
		return nil, fmt.Errorf("sync log dir for segment %d: %w", base, err)
	}
	return newSegment(base, f, now), nil
}

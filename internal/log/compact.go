package log

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/vfs"
)

// compactEvery bounds how often compaction rereads an unchanged log to drop
// tombstones that have aged out.
const compactEvery = time.Minute

// compactState is guarded by Log.maintMu.
type compactState struct {
	lastNext int64
	lastRun  time.Time
}

// compact rewrites closed segments keeping, for each key, only the record
// with the highest offset; a tombstone (null value) that is the latest for
// its key is dropped too once its timestamp is older than
// DeleteRetentionMs. Records without a key and control batches are kept.
// Offsets never change: a rewritten batch keeps its base offset and offset
// span, with gaps where records were dropped.
// maintMu must be held.
func (l *Log) compact(cfg Config, now time.Time) error {
	l.mu.RLock()
	// A segment with damaged ranges is left as it is: rewriting it
	// would drop the damaged bytes.
	segs := slices.DeleteFunc(slices.Clone(l.mu.segments), func(s *segment) bool { return len(s.bad) > 0 })
	next := l.mu.next
	l.mu.RUnlock()
	if len(segs) < 2 || (next == l.compaction.lastNext && now.Sub(l.compaction.lastRun) < compactEvery) {
		return nil
	}
	latest, err := l.latestOffsets(segs)
	if err != nil {
		return err
	}
	horizon := now.UnixMilli() - cfg.DeleteRetentionMs
	keep := func(r *records.Record, offset, ts int64) bool {
		if r.Key == nil {
			return true
		}
		if latest[string(r.Key)] > offset {
			return false
		}
		return r.Value != nil || ts >= horizon
	}
	for _, s := range segs[:len(segs)-1] {
		if err := l.compactSegment(s, keep); err != nil {
			return fmt.Errorf("compact segment %d: %w", s.base, err)
		}
	}
	l.compaction.lastNext, l.compaction.lastRun = next, now
	return nil
}

// latestOffsets maps every key in the log to the offset of its last record.
func (l *Log) latestOffsets(segs []*segment) (map[string]int64, error) {
	latest := make(map[string]int64)
	var scratch []byte
	for _, s := range segs {
		err := eachBatch(s, s.readable.Load(), func(b []byte) error {
			base := records.Header(b).BaseOffset()
			var err error
			scratch, err = records.EachRecord(b, scratch, func(r *records.Record) {
				if r.Key != nil {
					latest[string(r.Key)] = base + int64(r.OffsetDelta)
				}
			})
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return latest, nil
}

// eachBatch calls fn with every whole batch of s below limit, in order.
// The slice is reused between calls.
func eachBatch(s *segment, limit int64, fn func(b []byte) error) error {
	var buf []byte
	for pos := int64(0); pos+records.HeaderSize <= limit; {
		var err error
		if buf, err = readBatchAt(s, buf, pos, limit); err != nil {
			return err
		}
		if err := fn(buf); err != nil {
			return err
		}
		pos += int64(len(buf))
	}
	return nil
}

type keepFunc = func(r *records.Record, offset, ts int64) bool

// compactSegment rewrites one closed segment if any of its records go.
// maintMu must be held.
func (l *Log) compactSegment(s *segment, keep keepFunc) error {
	drops, err := countDrops(s, keep)
	if err != nil || drops == 0 {
		return err
	}
	tmpName := segmentName(l.dir, s.base, logSuffix+cleanedSuffix)
	f, err := l.fs.OpenFile(tmpName, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	ns, err := l.writeCleaned(s, f, keep)
	if err != nil {
		f.Close()
		l.fs.Remove(tmpName)
		return err
	}
	return l.swapSegment(s, ns, tmpName)
}

func countDrops(s *segment, keep keepFunc) (int, error) {
	drops := 0
	var scratch []byte
	err := eachBatch(s, s.size, func(b []byte) error {
		h := records.Header(b)
		var err error
		scratch, err = records.EachRecord(b, scratch, func(r *records.Record) {
			if !keep(r, h.BaseOffset()+int64(r.OffsetDelta), recordTimestamp(h, r)) {
				drops++
			}
		})
		return err
	})
	return drops, err
}

func recordTimestamp(h records.Header, r *records.Record) int64 {
	if h.Attributes()&records.AttrLogAppendTime != 0 {
		return h.MaxTimestamp()
	}
	return h.BaseTimestamp() + r.TimestampDelta
}

// writeCleaned writes the kept records of s to f, syncs it, and returns
// the new segment built from it.
func (l *Log) writeCleaned(s *segment, f vfs.File, keep keepFunc) (*segment, error) {
	ns := newSegment(s.base, f, s.created)
	interval := l.Config().IndexIntervalBytes
	var out, scratch []byte
	err := eachBatch(s, s.size, func(b []byte) error {
		out = out[:0]
		if records.Header(b).IsControl() {
			out = append(out, b...)
		} else {
			var err error
			var kept int
			out, scratch, kept, err = records.Filter(out, b, scratch, keep)
			if err != nil || kept == 0 {
				return err
			}
		}
		if _, err := f.Write(out); err != nil {
			return err
		}
		ns.addBatchLocked(records.Header(out), ns.size, interval)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	ns.next = max(ns.next, s.next)
	ns.readable.Store(ns.size)
	return ns, nil
}

// swapSegment replaces old with its cleaned copy: the index files go, the
// cleaned file is renamed over the old one, and the in-memory list is
// swapped copy-on-write so readers holding the old segment finish or retry.
// maintMu must be held.
func (l *Log) swapSegment(old, ns *segment, tmpName string) error {
	for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
		l.fs.Remove(segmentName(l.dir, old.base, suffix))
	}
	l.mu.Lock()
	if err := l.fs.Rename(tmpName, segmentName(l.dir, old.base, logSuffix)); err != nil {
		l.mu.Unlock()
		ns.file.Close()
		l.fs.Remove(tmpName)
		return err
	}
	ns.file = l.cacheFile(ns.file, segmentName(l.dir, old.base, logSuffix))
	segs := slices.Clone(l.mu.segments)
	for i := range segs {
		if segs[i] == old {
			segs[i] = ns
		}
	}
	l.mu.segments = segs
	l.mu.Unlock()
	old.removed.Store(true)
	old.file.Close()
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	if err := ns.writeIndexes(l.fs, l.dir); err != nil {
		l.logger.Warn("writing indexes of compacted segment", "segment", ns.base, "err", err)
	}
	l.logger.Info("segment compacted", "segment", ns.base, "bytes_before", old.size, "bytes_after", ns.size)
	return nil
}

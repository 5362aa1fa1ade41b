package log

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"time"
)

// logStartFile holds the log start offset that DeleteRecords set, as
// decimal text. Part of the on-disk format; do not change.
const logStartFile = "log-start-offset"

func (l *Log) readLogStart() (int64, error) {
	b, err := readFile(l.fs, l.path(logStartFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", logStartFile, err)
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil || n < 0 {
		// Written atomically, so this is damage; the segments still
		// bound the log start from below.
		l.logger.Error("ignoring unreadable log start checkpoint", "content", string(b))
		return 0, nil
	}
	return n, nil
}

// writeLogStart stores the log start offset durably: a temporary file,
// fsync, rename, directory fsync.
func (l *Log) writeLogStart(off int64) error {
	tmp := l.path(logStartFile + ".tmp")
	f, err := l.fs.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(strconv.FormatInt(off, 10) + "\n"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.fs.Rename(tmp, l.path(logStartFile))
	}
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", logStartFile, err)
	}
	return nil
}

// DeleteRecords moves the log start offset up to before, as Kafka's
// DeleteRecords does, and deletes the segments wholly below it. before may
// be -1 for the high watermark. It returns the new log start offset.
func (l *Log) DeleteRecords(before int64) (int64, error) {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	l.mu.RLock()
	closed, start := l.mu.closed, l.mu.logStart
	l.mu.RUnlock()
	if closed {
		return 0, ErrClosed
	}
	hw := l.hw.Load()
	if before == -1 {
		before = hw
	}
	if before < 0 || before > hw {
		return start, fmt.Errorf("%w: delete before %d, high watermark is %d", ErrOffsetOutOfRange, before, hw)
	}
	if before <= start {
		return start, nil
	}
	if err := l.writeLogStart(before); err != nil {
		return start, err
	}
	l.mu.Lock()
	l.mu.logStart = max(l.mu.logStart, before)
	start = l.mu.logStart
	var gone []*segment
	segs := l.mu.segments
	k := 0
	for k < len(segs)-1 && segs[k+1].base <= start {
		k++
	}
	if k > 0 {
		gone = segs[:k:k]
		l.mu.segments = slices.Clone(segs[k:])
	}
	l.mu.Unlock()
	l.removeSegments(gone, "delete-records")
	return start, nil
}

// applyRetention deletes the oldest closed segments while they are older
// than RetentionMs or the log is larger than RetentionBytes. The active
// segment is never deleted; Maintain rolls it when it ages.
func (l *Log) applyRetention(cfg Config, now time.Time) {
	l.mu.Lock()
	segs := l.mu.segments
	var total int64
	for _, s := range segs {
		total += s.size
	}
	nowMs := now.UnixMilli()
	k := 0
	for ; k < len(segs)-1; k++ {
		s := segs[k]
		expired := cfg.RetentionMs >= 0 && s.maxTs >= 0 && s.maxTs < nowMs-cfg.RetentionMs
		tooBig := cfg.RetentionBytes >= 0 && total-s.size >= cfg.RetentionBytes
		if !expired && !tooBig {
			break
		}
		total -= s.size
	}
	var gone []*segment
	if k > 0 {
		gone = segs[:k:k]
		l.mu.segments = slices.Clone(segs[k:])
		l.mu.logStart = max(l.mu.logStart, l.mu.segments[0].base)
	}
	l.mu.Unlock()
	l.removeSegments(gone, "retention")
}

// removeSegments closes and deletes segments already unlinked from the
// log. Readers holding one get os.ErrClosed and look again.
func (l *Log) removeSegments(segs []*segment, why string) {
	for _, s := range segs {
		s.removed.Store(true)
		s.file.Close()
		// Index files first: a crash in between leaves a .log file whose
		// indexes are rebuilt, not indexes that look like a lost segment.
		for _, suffix := range []string{indexSuffix, timeIndexSuffix, logSuffix} {
			if err := l.fs.Remove(segmentName(l.dir, s.base, suffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				l.logger.Warn("removing segment file", "segment", s.base, "err", err)
			}
		}
		l.logger.Debug("segment deleted", "segment", s.base, "reason", why, "bytes", s.size)
	}
}

// Maintain rolls an aged active segment, then applies retention and
// compaction as the config asks. The broker calls it periodically from one
// goroutine; it does its I/O outside the append lock where it can.
func (l *Log) Maintain() error {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	now := l.now()
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	cfg := l.mu.cfg
	s := l.mu.segments[len(l.mu.segments)-1]
	var err error
	if !l.failed.Load() && cfg.SegmentAge > 0 && s.size > 0 && now.Sub(s.created) >= cfg.SegmentAge {
		_, err = l.rollLocked(now)
	}
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if cfg.Delete {
		l.applyRetention(cfg, now)
	}
	if cfg.Compact {
		return l.compact(cfg, now)
	}
	return nil
}

package log

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/vfs"
)

// Errors returned by the log.
var (
	// ErrOffsetOutOfRange: the offset is below the log start offset or
	// above the log end offset.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("log closed")
	// ErrFailed: an earlier write or fsync failed in a way that leaves the
	// file's state unknown; the log must be reopened, and recovery decides
	// what survived.
	ErrFailed = errors.New("log failed; reopen to recover")
)

// Log is one partition's log. All methods are safe for concurrent use.
//
// Lock order: maintMu, then mu, then flush.mu. No fsync runs under mu: a
// segment roll syncs the old segment with mu released (see rollLocked).
type Log struct {
	dir    string
	fs     vfs.FS
	logger *slog.Logger
	now    func() time.Time
	files  *FileCache // nil: segment files stay open

	// maintMu serializes Maintain and DeleteRecords, the two things that
	// remove or replace closed segments.
	maintMu sync.Mutex

	mu struct {
		sync.RWMutex
		cfg Config
		// segments is sorted by base offset; the last one is active.
		// Invariant: segments[i].next <= segments[i+1].base.
		segments []*segment
		// logStart <= hw <= next.
		logStart int64
		next     int64
		// written counts bytes appended since Open, across segments; the
		// flusher compares it with flush.synced.
		written uint64
		// appends counts batches appended since Open; a sync's batch
		// size is its growth since the last sync (flush.appends).
		appends uint64
		closed  bool
		// lost lists the offset ranges whose bytes recovery moved aside
		// into .damaged files; reads of them fail with ErrDamaged.
		lost []lostRange
		// rolling is set while a roll does its IO with mu released;
		// appends, rolls and Close wait for rolled (whose L is mu's
		// write lock) until it is clear.
		rolling bool
		rolled  sync.Cond
	}

	// hw is the high watermark: the offset after the last batch readers
	// may see (durable, under Always).
	hw atomic.Int64
	// failed is set once a write or sync fails in a way that leaves the
	// file's state unknown.
	failed atomic.Bool

	flush struct {
		sync.Mutex
		cond   sync.Cond
		synced uint64 // Invariant: synced <= mu.written
		err    error
		// syncing is set while one goroutine runs a group-commit sync.
		syncing bool
		// appends is mu.appends at the last group-commit sync; only
		// the goroutine that set syncing touches it.
		appends uint64
	}
	stats *Stats        // Options.Stats; may be nil
	kick  chan struct{} // wakes the flusher; capacity 1
	done  chan struct{} // closed by Close to stop the flusher
	wg    sync.WaitGroup

	// compaction is guarded by maintMu.
	compaction compactState

	changed struct {
		sync.Mutex
		ch chan struct{} // closed when hw advances; nil until asked for
	}
}

// AppendResult says where an append went.
type AppendResult struct {
	BaseOffset     int64
	LastOffset     int64
	LogAppendTime  int64 // ms
	LogStartOffset int64
	// pos is mu.written after this append: durable once flush.synced
	// reaches it.
	pos uint64
}

// Open opens or creates the log in dir and recovers it.
func Open(dir string, cfg Config, opts Options) (*Log, error) {
	opts.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Log{dir: dir, fs: opts.FS, logger: opts.Logger.With("log", dir), now: opts.Now, files: opts.Files, stats: opts.Stats,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	l.mu.cfg = cfg
	l.mu.rolled.L = &l.mu.RWMutex
	l.flush.cond.L = &l.flush.Mutex
	if err := l.fs.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	if err := l.load(); err != nil {
		l.closeFiles()
		return nil, err
	}
	// A new directory or first segment must survive a crash too.
	dirs := []string{dir, filepath.Dir(dir)}
	if opts.SkipParentSync {
		dirs = dirs[:1]
	}
	for _, d := range dirs {
		if err := l.fs.SyncDir(d); err != nil {
			l.closeFiles()
			return nil, fmt.Errorf("sync log dir: %w", err)
		}
	}
	l.wg.Add(1)
	go l.flusher()
	return l, nil
}

// load opens every segment, recovers the active one, and sets the offsets.
func (l *Log) load() error {
	bases, names, err := l.listSegments()
	if err != nil {
		return err
	}
	if len(bases) == 0 {
		start, err := l.readLogStart()
		if err != nil {
			return err
		}
		bases = []int64{start}
	}
	have := make(map[int64]bool, len(bases))
	skipTo := int64(0)
	for i, base := range bases {
		have[base] = true
		s, st, err := l.openSegment(base, i == len(bases)-1)
		if err != nil {
			return err
		}
		l.mu.segments = append(l.mu.segments, s)
		skipTo = st
	}
	l.settleDamage()
	l.loadLost(names)
	active := l.mu.segments[len(l.mu.segments)-1]
	skipTo = max(skipTo, l.orphanBound(names, have, bases[0]))
	if end := l.readEnd(); end > max(skipTo, active.next) {
		l.logger.Error("segment data below the log end checkpoint is missing: the offsets are not given out again",
			"segment", active.base, "from_offset", max(skipTo, active.next), "next_offset", end)
		skipTo = end
	}
	if skipTo > active.next {
		if err := l.skipOffsets(skipTo); err != nil {
			return err
		}
		active = l.mu.segments[len(l.mu.segments)-1]
	}
	l.mu.next = active.next
	start, err := l.readLogStart()
	if err != nil {
		return err
	}
	l.mu.logStart = max(start, l.mu.segments[0].base)
	l.mu.logStart = min(l.mu.logStart, l.mu.next)
	l.hw.Store(l.mu.next)
	return nil
}

// settleDamage ends the damaged ranges that run to the end of a closed
// segment at the offset before the next segment's base, which is also
// where such a segment's offsets end, and reports them.
func (l *Log) settleDamage() {
	segs := l.mu.segments
	for i, s := range segs[:len(segs)-1] {
		if len(s.bad) == 0 {
			continue
		}
		if b := &s.bad[len(s.bad)-1]; b.last < 0 {
			b.last = segs[i+1].base - 1
			s.next = segs[i+1].base
		}
		l.reportBad(s, s.bad, s.badReasons)
		s.badReasons = nil
	}
}

// skipOffsets makes next the offset of the next append, leaving a gap: the
// active segment is closed as it is and an empty segment is started at
// next, whose file name keeps the gap across restarts. An empty active
// segment is replaced.
func (l *Log) skipOffsets(next int64) error {
	segs := l.mu.segments
	old := segs[len(segs)-1]
	s, err := l.createSegment(next, l.now())
	if err != nil {
		return err
	}
	if old.size == 0 {
		old.file.Close()
		if err := l.fs.Remove(segmentName(l.dir, old.base, logSuffix)); err != nil {
			s.file.Close()
			return fmt.Errorf("remove empty segment %d: %w", old.base, err)
		}
		l.fs.Remove(segmentName(l.dir, old.base, indexSuffix))
		l.fs.Remove(segmentName(l.dir, old.base, timeIndexSuffix))
		segs = segs[:len(segs)-1]
	} else if err := old.writeIndexes(l.fs, l.dir); err != nil {
		l.logger.Warn("writing indexes of closed segment; they will be rebuilt at open", "segment", old.base, "err", err)
	}
	l.mu.segments = append(segs, s)
	l.logger.Warn("offsets skipped: they may have been acknowledged before the damage", "from_offset", old.next, "next_offset", next)
	return nil
}

// listSegments returns the base offsets of the .log files, sorted, and
// removes leftovers of an interrupted compaction.
func (l *Log) listSegments() ([]int64, []string, error) {
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list log dir: %w", err)
	}
	var (
		bases []int64
		names []string
	)
	for _, e := range entries {
		name := e.Name()
		names = append(names, name)
		if strings.HasSuffix(name, cleanedSuffix) {
			if err := l.fs.Remove(l.path(name)); err != nil {
				return nil, nil, fmt.Errorf("remove leftover %s: %w", name, err)
			}
			continue
		}
		if !strings.HasSuffix(name, logSuffix) {
			continue
		}
		base, err := strconv.ParseInt(strings.TrimSuffix(name, logSuffix), 10, 64)
		if err != nil || base < 0 {
			l.logger.Warn("ignoring unexpected file in log dir", "file", name)
			continue
		}
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, names, nil
}

// openFile opens a segment file, through the descriptor cache if the log
// has one.
func (l *Log) openFile(name string, flag int) (vfs.File, error) {
	if l.files != nil {
		return l.files.open(l.fs, name, flag, 0o600)
	}
	return l.fs.OpenFile(name, flag, 0o600)
}

// cacheFile puts f, already open as name, under the descriptor cache if
// the log has one.
func (l *Log) cacheFile(f vfs.File, name string) vfs.File {
	if l.files != nil {
		return l.files.adopt(l.fs, name, f)
	}
	return f
}

func (l *Log) path(name string) string { return l.dir + string(os.PathSeparator) + name }

// openSegment opens one segment and brings its indexes up to date. The
// active segment's tail is scanned batch by batch with CRC checks and cut
// at the first torn or corrupt batch; for it, openSegment also returns the
// lowest offset the next append may take.
func (l *Log) openSegment(base int64, active bool) (*segment, int64, error) {
	name := segmentName(l.dir, base, logSuffix)
	f, err := l.openFile(name, os.O_CREATE|os.O_RDWR)
	if err != nil {
		return nil, 0, fmt.Errorf("open segment %d: %w", base, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("stat segment %d: %w", base, err)
	}
	s := newSegment(base, f, l.now())
	s.size = fi.Size()
	skipTo, err := l.recoverSegment(s, active)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if _, err := f.Seek(s.size, 0); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("seek segment %d: %w", base, err)
	}
	s.readable.Store(s.size)
	return s, skipTo, nil
}

// recoverSegment rebuilds s's in-memory state from its files. For the
// active segment it returns the lowest offset the next append may take,
// which a damaged tail can push past the segment's last good batch.
func (l *Log) recoverSegment(s *segment, active bool) (int64, error) {
	haveIndex := s.loadIndexes(l.fs, l.dir)
	if !haveIndex && l.indexExists(s.base) {
		l.logger.Warn("index files disagree with the segment or fail their checksum; rebuilt from it", "segment", s.base)
	}
	if haveIndex && !active {
		return 0, l.rescanClosed(s)
	}
	if !active {
		return 0, l.recoverSegmentFull(s)
	}
	// The active segment is scanned with full checks from its
	// second-to-last index entry: the last one (written at a clean close)
	// names the last batch, and when that batch is the damaged one the
	// scan must still see the batch before it to know where the segment's
	// good data and offsets end.
	from, next := int64(0), s.base
	if haveIndex && len(s.index) > 1 {
		e := s.index[len(s.index)-2]
		from, next = int64(e.pos), s.base+int64(e.rel)
	} else {
		s.index, s.times = nil, nil
	}
	bound := indexBound(l.fs, l.dir, s.base)
	fileSize := s.size
	for {
		s.resetTo(from, next, l.mu.cfg.IndexIntervalBytes)
		res := scan(s.file, from, fileSize, next, true, func(h records.Header, pos int64) {
			s.addBatchLocked(h, pos, l.mu.cfg.IndexIntervalBytes)
		})
		if res.end == from && from > 0 {
			// Not even the batch at the index entry is good: where
			// the one before it starts is unknown, so scan it all.
			from, next, s.index, s.times = 0, s.base, nil, nil
			continue
		}
		if res.end == fileSize {
			return max(s.next, bound), nil
		}
		skipTo, err := l.cutTail(s, res, fileSize)
		return max(skipTo, bound), err
	}
}

// indexExists reports whether segment base has an index file.
func (l *Log) indexExists(base int64) bool {
	_, err := l.fs.Stat(segmentName(l.dir, base, indexSuffix))
	return err == nil
}

// rescanClosed fills in what the indexes of a closed segment don't hold
// (its end offset and max timestamp) from the batch header the last index
// entry names; if that header does not end the file, it scans.
func (l *Log) rescanClosed(s *segment) error {
	if len(s.index) == 0 {
		return l.recoverSegmentFull(s)
	}
	last := s.index[len(s.index)-1]
	var hdr [records.HeaderSize]byte
	if _, err := s.file.ReadAt(hdr[:], int64(last.pos)); err != nil {
		return l.recoverSegmentFull(s)
	}
	h := records.Header(hdr[:])
	if int64(last.pos)+int64(h.Size()) != s.size {
		return l.recoverSegmentFull(s)
	}
	s.next = h.LastOffset() + 1
	s.lastPos, s.lastRel = int64(last.pos), last.rel
	if n := len(s.times); n > 0 {
		t := s.times[n-1]
		s.maxTs, s.maxTsPos, s.maxTsRel = t.ts, int64(t.pos), t.rel
	}
	return nil
}

// recoverSegmentFull rebuilds a closed segment's indexes by walking its
// batch headers. A closed segment was synced when it was rolled, so a bad
// batch in it is damage, not a torn write: nothing is cut. The damaged
// range (up to the next good batch, or the end of the file) is reported
// and reads of its offsets fail with ErrDamaged.
func (l *Log) recoverSegmentFull(s *segment) error {
	fileSize := s.size
	s.size, s.index, s.times, s.sinceIndex, s.maxTs = 0, nil, nil, 0, -1
	r := newChunkReader(s.file, fileSize, nil)
	_, bad, reasons, _ := scanDamage(r, 0, s.base, false, func(h records.Header, pos int64) {
		s.addBatchLocked(h, pos, l.mu.cfg.IndexIntervalBytes)
	})
	s.size = fileSize
	s.bad, s.badReasons = bad, reasons
	if len(bad) == 0 {
		l.saveRebuiltIndexes(s)
	}
	// Otherwise the damage is reported by load, once the next segment
	// tells where this one's offsets end; no index is saved, so the next
	// open looks again.
	return nil
}

// saveRebuiltIndexes writes the indexes of a closed segment that a scan
// rebuilt, so that the next open does not scan it again. (Only a closed
// segment's index files are written at open; the active one's are written
// when it is closed.)
func (l *Log) saveRebuiltIndexes(s *segment) {
	if err := s.writeIndexes(l.fs, l.dir); err != nil {
		l.logger.Warn("writing rebuilt indexes; the segment will be scanned again at the next open", "segment", s.base, "err", err)
	}
}

func trimIndex(idx []offsetEntry, from int64) []offsetEntry {
	for len(idx) > 0 && int64(idx[len(idx)-1].pos) >= from {
		idx = idx[:len(idx)-1]
	}
	return idx
}

func trimTimes(t []timeEntry, from int64) []timeEntry {
	for len(t) > 0 && int64(t[len(t)-1].pos) >= from {
		t = t[:len(t)-1]
	}
	return t
}

// Config returns the log's current config.
func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.cfg
}

// SetConfig changes the config; it applies to later appends and the next
// Maintain. An invalid config is ignored and reported.
func (l *Log) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	old := l.mu.cfg.Durability
	l.mu.cfg = cfg
	l.mu.Unlock()
	if old != cfg.Durability {
		l.kickFlusher()
	}
	return nil
}

// HighWatermark is the offset after the last batch readers can see.
func (l *Log) HighWatermark() int64 { return l.hw.Load() }

// LogEndOffset is the offset the next batch will get.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.next
}

// LogStartOffset is the first offset that may be read.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.logStart
}

// Size is the bytes on disk in segment files.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.mu.segments {
		n += s.size
	}
	return n
}

// Segments is the number of segment files.
func (l *Log) Segments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.mu.segments)
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// Changed returns a channel that is closed the next time the high
// watermark advances or the log closes. Long-poll fetches wait on it.
func (l *Log) Changed() <-chan struct{} {
	l.changed.Lock()
	defer l.changed.Unlock()
	if l.changed.ch == nil {
		l.changed.ch = make(chan struct{})
	}
	return l.changed.ch
}

func (l *Log) notifyChanged() {
	l.changed.Lock()
	if l.changed.ch != nil {
		close(l.changed.ch)
		l.changed.ch = nil
	}
	l.changed.Unlock()
}

// advanceHW raises the high watermark to hw if it is higher.
func (l *Log) advanceHW(hw int64) {
	for {
		cur := l.hw.Load()
		if hw <= cur {
			return
		}
		if l.hw.CompareAndSwap(cur, hw) {
			l.notifyChanged()
			return
		}
	}
}

// Close syncs and closes the log, writing the active segment's indexes.
// It is idempotent.
func (l *Log) Close() error {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	l.mu.Lock()
	l.waitRollLocked()
	if l.mu.closed {
		l.mu.Unlock()
		return nil
	}
	l.mu.closed = true
	l.mu.Unlock()
	close(l.done)
	l.wg.Wait()
	var err error
	if !l.failed.Load() {
		err = l.syncActive()
		if err == nil {
			err = l.writeActiveIndexes()
		}
		if err == nil {
			l.mu.RLock()
			next := l.mu.next
			l.mu.RUnlock()
			if werr := l.writeEnd(next); werr != nil {
				l.logger.Warn("writing the log end checkpoint", "err", werr)
			}
		}
	}
	l.flush.Lock()
	if l.flush.err == nil {
		l.flush.err = ErrClosed
	}
	l.flush.cond.Broadcast()
	l.flush.Unlock()
	l.notifyChanged()
	if cerr := l.closeFiles(); err == nil {
		err = cerr
	}
	return err
}

func (l *Log) writeActiveIndexes() error {
	l.mu.RLock()
	active := l.mu.segments[len(l.mu.segments)-1]
	l.mu.RUnlock()
	return active.writeIndexes(l.fs, l.dir)
}

func (l *Log) closeFiles() error {
	var err error
	for _, s := range l.mu.segments {
		if cerr := s.file.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Remove closes the log and deletes its directory.
func (l *Log) Remove() error {
	if err := l.Close(); err != nil && !errors.Is(err, ErrFailed) {
		l.logger.Warn("closing log before removal", "err", err)
	}
	return l.fs.RemoveAll(l.dir)
}

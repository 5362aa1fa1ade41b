package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/vfs"
)

// File name suffixes. Part of the on-disk format; do not change.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	cleanedSuffix   = ".cleaned"
	offsetEntrySize = 8
	timeEntrySize   = 16
	crcSize         = 4
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func segmentName(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// offsetEntry says the batch with base offset segment.base+rel starts at pos.
type offsetEntry struct {
	rel uint32
	pos uint32
}

// timeEntry says no batch up to and including the one at pos has a
// timestamp above ts.
type timeEntry struct {
	ts  int64
	rel uint32
	pos uint32
}

// segment is one .log file and its in-memory indexes.
//
// A closed segment is immutable except when compaction replaces it whole.
// The active segment is appended to under Log.mu.
type segment struct {
	base int64
	file vfs.File

	// Fields below are guarded by Log.mu.

	size int64 // bytes written
	// next is the offset after the last batch (base when empty).
	next int64
	// index[i].rel is strictly increasing; index[i].pos < size.
	index []offsetEntry
	times []timeEntry
	// sinceIndex counts bytes written since the last index entry.
	sinceIndex int
	// maxTs and maxTsPos locate the batch with the largest timestamp;
	// maxTs is -1 when no batch has a timestamp.
	maxTs    int64
	maxTsPos int64
	maxTsRel uint32
	// lastPos and lastRel locate the last batch.
	lastPos int64
	lastRel uint32
	created time.Time
	// bad lists the segment's damaged byte ranges, sorted by position.
	// It is replaced, never changed in place, so that a reader may keep
	// the slice it saw under the lock.
	bad []badRange
	// badReasons says what was wrong with each of bad's ranges until load
	// reports them.
	badReasons []error

	// removed is set before a deleted or replaced segment's file is
	// closed, so that a sync racing with it knows the error is expected.
	removed atomic.Bool

	// readable is how many bytes readers may see: all of a closed
	// segment; up to the last durable batch of the active one.
	readable atomic.Int64
}

func newSegment(base int64, f vfs.File, now time.Time) *segment {
	return &segment{base: base, file: f, next: base, maxTs: -1, created: now}
}

// addBatchLocked records a batch just written at pos.
// Log.mu must be held.
func (s *segment) addBatchLocked(h records.Header, pos int64, interval int) {
	n := h.Size()
	rel := uint32(h.BaseOffset() - s.base)
	if s.sinceIndex >= interval {
		s.index = append(s.index, offsetEntry{rel: rel, pos: uint32(pos)})
		s.sinceIndex = 0
		if ts := h.MaxTimestamp(); ts > s.lastTimeEntry() {
			s.times = append(s.times, timeEntry{ts: ts, rel: rel, pos: uint32(pos)})
		}
	}
	s.sinceIndex += n
	if ts := h.MaxTimestamp(); ts > s.maxTs {
		s.maxTs, s.maxTsPos, s.maxTsRel = ts, pos, rel
	}
	s.lastPos, s.lastRel = pos, rel
	s.size = pos + int64(n)
	s.next = h.LastOffset() + 1
}

// resetTo forgets everything about the segment from byte pos on, where the
// batch with base offset next starts, so that a scan can add it back.
// Log.mu must be held (or the segment not yet shared).
func (s *segment) resetTo(pos, next int64, interval int) {
	s.size, s.next = pos, next
	s.index, s.times = trimIndex(s.index, pos), trimTimes(s.times, pos)
	s.sinceIndex, s.maxTs, s.maxTsPos, s.maxTsRel, s.lastPos, s.lastRel = 0, -1, 0, 0, 0, 0
	if pos > 0 {
		s.sinceIndex = interval
	}
	if n := len(s.times); n > 0 {
		t := s.times[n-1]
		s.maxTs, s.maxTsPos, s.maxTsRel = t.ts, int64(t.pos), t.rel
	}
}

func (s *segment) lastTimeEntry() int64 {
	if len(s.times) == 0 {
		return -1
	}
	return s.times[len(s.times)-1].ts
}

// lookup returns the position to start scanning from for offset, and the
// base offset the batch there must have (-1 for position 0).
// Log.mu must be held (at least for reading).
func (s *segment) lookup(offset int64) (pos, base int64) {
	rel := offset - s.base
	i := sort.Search(len(s.index), func(i int) bool { return int64(s.index[i].rel) > rel })
	if i == 0 {
		return 0, -1
	}
	e := s.index[i-1]
	return int64(e.pos), s.base + int64(e.rel)
}

// lookupTime returns a position before every batch with a timestamp >= ts,
// and the base offset the batch there must have (-1 for position 0).
// Log.mu must be held (at least for reading).
func (s *segment) lookupTime(ts int64) (pos, base int64) {
	i := sort.Search(len(s.times), func(i int) bool { return s.times[i].ts >= ts })
	if i == 0 {
		return 0, -1
	}
	e := s.times[i-1]
	return int64(e.pos), s.base + int64(e.rel)
}

// writeIndexes writes both index files from memory. They are a cache: no
// fsync, and a crash that leaves them short or stale is caught by
// loadIndexes.
//
// The files also get an entry for the last batch and one for the batch with
// the largest timestamp, so that opening a closed segment needs no scan.
func (s *segment) writeIndexes(fs vfs.FS, dir string) error {
	index, times := s.index, s.times
	if s.size > 0 && (len(index) == 0 || int64(index[len(index)-1].pos) != s.lastPos) {
		index = append(index[:len(index):len(index)], offsetEntry{rel: s.lastRel, pos: uint32(s.lastPos)})
	}
	if s.maxTs > s.lastTimeEntry() {
		times = append(times[:len(times):len(times)], timeEntry{ts: s.maxTs, rel: s.maxTsRel, pos: uint32(s.maxTsPos)})
	}
	buf := make([]byte, 0, len(index)*offsetEntrySize+crcSize)
	for _, e := range index {
		buf = binary.BigEndian.AppendUint32(buf, e.rel)
		buf = binary.BigEndian.AppendUint32(buf, e.pos)
	}
	if err := writeFile(fs, segmentName(dir, s.base, indexSuffix), appendCRC(buf)); err != nil {
		return err
	}
	buf = make([]byte, 0, len(times)*timeEntrySize+crcSize)
	for _, e := range times {
		buf = binary.BigEndian.AppendUint64(buf, uint64(e.ts))
		buf = binary.BigEndian.AppendUint32(buf, e.rel)
		buf = binary.BigEndian.AppendUint32(buf, e.pos)
	}
	return writeFile(fs, segmentName(dir, s.base, timeIndexSuffix), appendCRC(buf))
}

// loadIndexes reads the index files and checks them against the segment:
// entries must be ordered and inside the file, and the last offset entry
// must point at a batch with the offset it names. It reports false when
// they are missing or disagree; the caller then rebuilds them by scanning.
func (s *segment) loadIndexes(fs vfs.FS, dir string) bool {
	ib, ok := readChecked(fs, segmentName(dir, s.base, indexSuffix), offsetEntrySize)
	if !ok {
		return false
	}
	tb, ok := readChecked(fs, segmentName(dir, s.base, timeIndexSuffix), timeEntrySize)
	if !ok {
		return false
	}
	idx := make([]offsetEntry, 0, len(ib)/offsetEntrySize)
	for p := 0; p < len(ib); p += offsetEntrySize {
		e := offsetEntry{rel: binary.BigEndian.Uint32(ib[p:]), pos: binary.BigEndian.Uint32(ib[p+4:])}
		if int64(e.pos) >= s.size || (len(idx) > 0 && (e.rel <= idx[len(idx)-1].rel || e.pos <= idx[len(idx)-1].pos)) {
			return false
		}
		idx = append(idx, e)
	}
	times := make([]timeEntry, 0, len(tb)/timeEntrySize)
	for p := 0; p < len(tb); p += timeEntrySize {
		e := timeEntry{ts: int64(binary.BigEndian.Uint64(tb[p:])), rel: binary.BigEndian.Uint32(tb[p+8:]), pos: binary.BigEndian.Uint32(tb[p+12:])}
		if int64(e.pos) >= s.size || (len(times) > 0 && e.ts <= times[len(times)-1].ts) {
			return false
		}
		times = append(times, e)
	}
	if len(idx) > 0 {
		last := idx[len(idx)-1]
		var hdr [records.HeaderSize]byte
		if _, err := s.file.ReadAt(hdr[:], int64(last.pos)); err != nil {
			return false
		}
		if records.Header(hdr[:]).BaseOffset() != s.base+int64(last.rel) || records.ValidateHeader(hdr[:]) != nil {
			return false
		}
	}
	s.index, s.times = idx, times
	return true
}

// appendCRC appends the CRC-32C of b: index files end with one, so that a
// file cut short or damaged is rebuilt rather than trusted.
func appendCRC(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// readChecked reads an index file and checks its trailing CRC and that the
// rest is whole entries of entrySize bytes.
func readChecked(fs vfs.FS, name string, entrySize int) ([]byte, bool) {
	b, err := readFile(fs, name)
	if err != nil || len(b) < crcSize || (len(b)-crcSize)%entrySize != 0 {
		return nil, false
	}
	body := b[:len(b)-crcSize]
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(b[len(body):]) {
		return nil, false
	}
	return body, true
}

func writeFile(fs vfs.FS, name string, data []byte) error {
	f, err := fs.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func readFile(fs vfs.FS, name string) ([]byte, error) {
	f, err := fs.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// scanResult is what scanning a segment found.
type scanResult struct {
	// end is where the last good batch ends.
	end int64
	// bad describes why scanning stopped before the end of the file; nil
	// when every byte was a good batch.
	bad error
}

// errTruncated marks a batch cut short by the end of the file.
var errTruncated = errors.New("batch runs past the end of the file")

// scan walks batches in f from pos to size and calls visit for each good
// one. With checkCRC every batch is read whole and fully validated;
// otherwise only headers are read. Base offsets must be at least next and
// increase. It stops at the first bad batch.
//
// checkCRC is for the active segment, whose batches were appended one
// after another: there each base offset must be exactly next. The CRC does
// not cover the base offset, so this is what catches a damaged one, or a
// whole valid batch that is not ours (stale blocks of another partition's
// deleted segment, which a crash can leave in a file's unsynced tail).
// Closed segments may have gaps where compaction dropped whole batches.
func scan(f vfs.File, pos, size, next int64, checkCRC bool, visit func(h records.Header, pos int64)) scanResult {
	return scanWith(newChunkReader(f, size, nil), pos, next, checkCRC, !checkCRC, visit)
}

// scanWith is scan reading through r; gaps allows gaps between batches'
// offsets even with checkCRC, for verifying closed segments.
func scanWith(r *chunkReader, pos, next int64, checkCRC, gaps bool, visit func(h records.Header, pos int64)) scanResult {
	size := r.size
	for pos < size {
		hdr, err := r.at(pos, records.HeaderSize)
		if err != nil {
			return scanResult{end: pos, bad: err}
		}
		if err := records.ValidateHeader(hdr); err != nil {
			return scanResult{end: pos, bad: err}
		}
		if base := records.Header(hdr).BaseOffset(); base < next || (!gaps && base != next) {
			return scanResult{end: pos, bad: fmt.Errorf("batch at %d has base offset %d after a batch ending at %d", pos, base, next-1)}
		}
		n := records.Header(hdr).Size()
		if checkCRC {
			b, err := r.at(pos, n)
			if err != nil {
				return scanResult{end: pos, bad: err}
			}
			if err := records.ValidateStored(b); err != nil {
				return scanResult{end: pos, bad: err}
			}
			hdr = b
		} else if pos+int64(n) > size {
			return scanResult{end: pos, bad: errTruncated}
		}
		visit(records.Header(hdr), pos)
		next = records.Header(hdr).LastOffset() + 1
		pos += int64(n)
	}
	return scanResult{end: pos}
}

// chunkReader serves reads at increasing positions from a buffered window
// of the file, so that scanning many small batches costs few syscalls.
type chunkReader struct {
	f     vfs.File
	size  int64
	buf   []byte
	start int64 // file position of buf[0]
	// throttle, when set, is called with the bytes of every read, before
	// it; background verification paces itself with it, and stops by
	// returning an error.
	throttle func(n int) error
	// stopped is the throttle's error, once it returned one.
	stopped error
}

func newChunkReader(f vfs.File, size int64, throttle func(n int) error) *chunkReader {
	return &chunkReader{f: f, size: size, buf: make([]byte, 0, 1<<20), throttle: throttle}
}

func (r *chunkReader) at(pos int64, n int) ([]byte, error) {
	if pos+int64(n) > r.size {
		return nil, errTruncated
	}
	if pos >= r.start && pos+int64(n) <= r.start+int64(len(r.buf)) {
		off := pos - r.start
		return r.buf[off : off+int64(n)], nil
	}
	want := max(n, cap(r.buf))
	if int64(want) > r.size-pos {
		want = int(r.size - pos)
	}
	if want > cap(r.buf) {
		r.buf = make([]byte, want)
	}
	r.buf = r.buf[:want]
	if r.throttle != nil {
		if err := r.throttle(want); err != nil {
			r.buf, r.stopped = r.buf[:0], err
			return nil, err
		}
	}
	if _, err := r.f.ReadAt(r.buf, pos); err != nil && !errors.Is(err, io.EOF) {
		r.buf = r.buf[:0]
		return nil, err
	}
	r.start = pos
	return r.buf[:n], nil
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		cur := v.Load()
		if n <= cur || v.CompareAndSwap(cur, n) {
			return
		}
	}
}

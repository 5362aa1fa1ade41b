package log

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/vfs"
)

// ErrDamaged marks a read of offsets whose bytes on disk are damaged (a
// checksum or framing error in a segment). The broker answers such a
// fetch with CORRUPT_MESSAGE; every other offset still reads normally, so
// a consumer can seek past the damaged range.
var ErrDamaged = errors.New("damaged log data")

// errStopped marks a scan stopped by its throttle.
var errStopped = errors.New("scan stopped")

// damagedSuffix names the files recovery moves a damaged active-segment
// tail into instead of deleting it:
//
//	<segment base>.<byte position>.<first offset>-<last offset>[.<n>].damaged
//
// Part of the on-disk format; do not change.
const damagedSuffix = ".damaged"

func damagedName(dir string, base, pos, first, last int64, n int) string {
	if n > 0 {
		return segmentName(dir, base, fmt.Sprintf(".%d.%d-%d.%d%s", pos, first, last, n, damagedSuffix))
	}
	return segmentName(dir, base, fmt.Sprintf(".%d.%d-%d%s", pos, first, last, damagedSuffix))
}

// parseDamagedName returns the segment, position and offsets a .damaged
// file's name records.
func parseDamagedName(name string) (base, pos, first, last int64, ok bool) {
	f := strings.Split(strings.TrimSuffix(name, damagedSuffix), ".")
	if len(f) < 3 || !strings.HasSuffix(name, damagedSuffix) {
		return 0, 0, 0, 0, false
	}
	first, last = -1, -1
	r := strings.SplitN(f[2], "-", 2)
	nums := []string{f[0], f[1]}
	if len(r) == 2 {
		nums = append(nums, r[0], r[1])
	}
	var v [4]int64
	for i, n := range nums {
		x, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return 0, 0, 0, 0, false
		}
		v[i] = x
	}
	if len(nums) == 4 {
		first, last = v[2], v[3]
	}
	return v[0], v[1], first, last, true
}

// lostRange is a range of offsets whose bytes recovery moved aside.
type lostRange struct {
	first, last int64
	file        string
}

// loadLost registers the offsets of the .damaged files in the log dir:
// reads of them fail with ErrDamaged.
// mu must be held (or the log not yet shared).
func (l *Log) loadLost(names []string) {
	for _, name := range names {
		if _, _, first, last, ok := parseDamagedName(name); ok && first >= 0 && last >= first {
			l.mu.lost = append(l.mu.lost, lostRange{first: first, last: last, file: l.path(name)})
		}
	}
}

// lostAtLocked returns the moved-aside range that holds offset, if any.
// mu must be held (at least for reading).
func (l *Log) lostAtLocked(offset int64) (lostRange, bool) {
	for _, r := range l.mu.lost {
		if offset >= r.first && offset <= r.last {
			return r, true
		}
	}
	return lostRange{}, false
}

// Damage is a damaged byte range of one file of a log.
type Damage struct {
	// File is the path of the damaged file.
	File string
	// Segment is the base offset of the segment the file belongs to.
	Segment int64
	// Pos and End bound the damaged bytes: [Pos, End).
	Pos, End int64
	// FirstOffset and LastOffset bound the offsets the damaged bytes held,
	// as far as the batches around them tell; both are -1 for damage that
	// holds no records (an index file).
	FirstOffset, LastOffset int64
	// Reason is what was wrong with the first damaged byte.
	Reason string
}

func (d Damage) String() string {
	offsets := "no records"
	switch {
	case d.FirstOffset >= 0 && d.LastOffset >= d.FirstOffset:
		offsets = fmt.Sprintf("offsets %d-%d", d.FirstOffset, d.LastOffset)
	case d.FirstOffset >= 0:
		offsets = fmt.Sprintf("offsets from %d", d.FirstOffset)
	}
	return fmt.Sprintf("%s: bytes %d-%d (%d bytes), %s: %s", d.File, d.Pos, d.End, d.End-d.Pos, offsets, d.Reason)
}

// LogAttrs are the slog attributes of a damage report.
func (d Damage) LogAttrs() []any {
	return []any{"file", d.File, "segment", d.Segment, "position", d.Pos, "bytes", d.End - d.Pos,
		"first_offset", d.FirstOffset, "last_offset", d.LastOffset, "reason", d.Reason}
}

// badRange is a damaged byte range of a segment that reads skip: a read
// of an offset in [first, last] fails with ErrDamaged.
// Invariant: ranges start at a batch boundary and end at one or at the end
// of the segment, and do not overlap.
type badRange struct {
	pos, end    int64
	first, last int64
}

// badAt returns the damaged range that holds byte pos, if any.
func badAt(bad []badRange, pos int64) (badRange, bool) {
	for _, b := range bad {
		if pos >= b.pos && pos < b.end {
			return b, true
		}
	}
	return badRange{}, false
}

// readLimit lowers limit to the start of the first damaged range between
// pos and limit, so that a read never hands out damaged bytes.
func readLimit(bad []badRange, pos, limit int64) int64 {
	for _, b := range bad {
		if b.pos >= pos && b.pos < limit {
			limit = b.pos
		}
	}
	return limit
}

// DamagedError is the error a read of damaged offsets returns; it matches
// ErrDamaged.
type DamagedError struct {
	// FirstOffset and LastOffset bound the damaged range: a reader seeks
	// to LastOffset+1 to go on.
	FirstOffset, LastOffset int64
	// Segment, Pos and End locate the damaged bytes; all -1 for offsets
	// whose bytes recovery moved aside into a .damaged file.
	Segment, Pos, End int64
}

func (e *DamagedError) Error() string {
	if e.Segment < 0 {
		return fmt.Sprintf("%v: offsets %d-%d, moved aside by recovery", ErrDamaged, e.FirstOffset, e.LastOffset)
	}
	return fmt.Sprintf("%v: offsets %d-%d, segment %d bytes %d-%d", ErrDamaged, e.FirstOffset, e.LastOffset, e.Segment, e.Pos, e.End)
}

// Is makes errors.Is(err, ErrDamaged) hold.
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

func damagedErr(s *segment, b badRange) error {
	return &DamagedError{FirstOffset: b.first, LastOffset: b.last, Segment: s.base, Pos: b.pos, End: b.end}
}

// resync finds the first whole, checksummed batch with a base offset of at
// least next that starts after pos, looking at every byte position.
func resync(r *chunkReader, pos, size, next int64) (int64, records.Header, bool) {
	for p := pos; p+records.HeaderSize <= size; p++ {
		hdr, err := r.at(p, records.HeaderSize)
		if err != nil {
			return 0, nil, false
		}
		if records.ValidateHeader(hdr) != nil || records.Header(hdr).BaseOffset() < next {
			continue
		}
		b, err := r.at(p, records.Header(hdr).Size())
		if err != nil || records.ValidateStored(b) != nil {
			continue
		}
		return p, records.Header(b), true
	}
	return 0, nil, false
}

// scanDamage scans a segment's batches from pos to size, fully checked
// when checkCRC is set, and steps over damage: at a bad batch it looks for
// the next good one, reports the bytes between as damaged, and goes on
// from there. next is the lowest base offset the batch at pos may have;
// it returns the offset after the last good batch. A damaged range that
// runs to size has last -1: the caller knows where the segment's offsets
// end.
func scanDamage(r *chunkReader, pos, next int64, checkCRC bool, visit func(h records.Header, pos int64)) (int64, []badRange, []error, error) {
	// Closed segments may have gaps where compaction dropped batches.
	const gaps = true
	var (
		bad     []badRange
		reasons []error
	)
	size := r.size
	for pos < size {
		res := scanWith(r, pos, next, checkCRC, gaps, func(h records.Header, p int64) {
			next = h.LastOffset() + 1
			if visit != nil {
				visit(h, p)
			}
		})
		if res.bad == nil {
			break
		}
		if errors.Is(res.bad, errStopped) {
			return next, bad, reasons, res.bad
		}
		p, h, ok := resync(r, res.end+1, size, next)
		if r.stopped != nil {
			return next, bad, reasons, r.stopped
		}
		b := badRange{pos: res.end, end: size, first: next, last: -1}
		if ok {
			b.end, b.last = p, h.BaseOffset()-1
		}
		bad = append(bad, b)
		reasons = append(reasons, res.bad)
		if !ok {
			break
		}
		pos = p
	}
	return next, bad, reasons, nil
}

// tail is what recovery found in the bytes of the active segment after its
// last good batch.
type tail struct {
	// skipTo is the lowest offset the next append may take: past every
	// offset a whole batch in the tail tells.
	skipTo int64
	// told: a header or batch in the tail says its offsets were
	// assigned, and the tail is not a torn write: it may have held
	// acknowledged records.
	told bool
}

// tornZeros is the shortest run of zeros ending the file, starting inside
// the damaged batch, that marks it torn by a power loss (its size reached
// the disk, its data did not) rather than damaged: a batch's own last
// byte is often zero.
const tornZeros = 8

// inspectTail looks at the bytes [pos, size) of the active segment, which
// do not parse as batches following offset next-1. A tail that is all
// zeros, a batch cut short by the end of the file, or one whose end the
// file's trailing zeros cover, is a torn write.
func inspectTail(f vfs.File, pos, size, next int64) tail {
	t := tail{skipTo: next}
	r := &chunkReader{f: f, size: size, buf: make([]byte, 0, 1<<16)}
	zeroFrom := trailingZeros(f, pos, size)
	if zeroFrom == pos {
		return t
	}
	if hdr, err := r.at(pos, records.HeaderSize); err == nil && records.ValidateHeader(hdr) == nil {
		h := records.Header(hdr)
		end := pos + int64(h.Size())
		// The CRC does not cover the base offset, and the batch is ours
		// only if it follows the last good one; the offset span is
		// believed only when the record count agrees with it, as it
		// does for every batch appended to the active segment.
		ours := h.BaseOffset() == next && h.LastOffsetDelta() >= 0 && h.RecordCount() == h.LastOffsetDelta()+1
		torn := end > size || (zeroFrom < end && size-zeroFrom >= tornZeros)
		if ours && !torn {
			t.skipTo, t.told = h.LastOffset()+1, true
		}
	}
	for p := pos + 1; ; {
		q, h, ok := resync(r, p, size, next)
		if !ok {
			break
		}
		t.skipTo, t.told = max(t.skipTo, h.LastOffset()+1), true
		p = q + int64(h.Size())
	}
	return t
}

// trailingZeros returns where the run of zero bytes that ends the file
// starts, not before pos.
func trailingZeros(f vfs.File, pos, size int64) int64 {
	buf := make([]byte, 1<<16)
	for end := size; end > pos; {
		n := min(end-pos, int64(len(buf)))
		b := buf[:n]
		if _, err := f.ReadAt(b, end-n); err != nil && !errors.Is(err, io.EOF) {
			return end
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != 0 {
				return end - n + int64(i) + 1
			}
		}
		end -= n
	}
	return pos
}

// keepAside copies the bytes [pos, size) of segment s, which held offsets
// first to last as far as recovery can tell, into a .damaged file next to
// it and syncs it, so that cutting them off the segment loses nothing an
// operator might recover. The file's name records the offsets: reads of
// them fail with ErrDamaged from then on, across restarts.
func (l *Log) keepAside(s *segment, pos, size, first, last int64) (string, error) {
	name := damagedName(l.dir, s.base, pos, first, last, 0)
	for i := 1; i < 1000; i++ {
		if _, err := l.fs.Stat(name); err != nil {
			break // free (or unknowable: O_EXCL below decides)
		}
		name = damagedName(l.dir, s.base, pos, first, last, i)
	}
	out, err := l.fs.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("keep damaged bytes of segment %d: %w", s.base, err)
	}
	_, err = io.Copy(out, io.NewSectionReader(s.file, pos, size-pos))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	if err != nil {
		l.fs.Remove(name)
		return "", fmt.Errorf("keep damaged bytes of segment %d: %w", s.base, err)
	}
	return name, nil
}

// cutTail cuts the active segment after its last good batch. A torn write
// (see inspectTail), or bytes that say nothing about which offsets they
// held, were never acknowledged under Durability Always: they are cut and
// reported. A tail that may have held acknowledged records (a whole batch
// of ours failing its CRC, or damage with good batches after it) is kept
// aside in a .damaged file first, and the offsets it tells of are never
// given out again: cutTail returns the lowest offset the next append may
// take.
func (l *Log) cutTail(s *segment, res scanResult, fileSize int64) (int64, error) {
	t := inspectTail(s.file, res.end, fileSize, s.next)
	attrs := []any{"segment", s.base, "from_offset", s.next, "position", res.end,
		"bytes", fileSize - res.end, "reason", res.bad, "next_offset", t.skipTo}
	if !t.told {
		l.logger.Warn("torn tail cut off in recovery", attrs...)
	} else {
		kept, err := l.keepAside(s, res.end, fileSize, s.next, t.skipTo-1)
		if err != nil {
			return 0, err
		}
		// load listed the dir before this file existed.
		l.mu.lost = append(l.mu.lost, lostRange{first: s.next, last: t.skipTo - 1, file: kept})
		l.logger.Error("damaged tail of the active segment moved aside; its offsets are not given out again",
			append(attrs, "kept", kept)...)
	}
	if err := s.file.Truncate(res.end); err != nil {
		return 0, fmt.Errorf("truncate segment %d at %d: %w", s.base, res.end, err)
	}
	if err := s.file.Sync(); err != nil {
		return 0, fmt.Errorf("sync segment %d after truncation: %w", s.base, err)
	}
	s.size = res.end
	return t.skipTo, nil
}

// reportBad logs the damaged ranges a scan of a closed segment found at
// open. Nothing is cut: reads of those offsets fail with ErrDamaged.
func (l *Log) reportBad(s *segment, bad []badRange, reasons []error) {
	for i, b := range bad {
		d := Damage{File: segmentName(l.dir, s.base, logSuffix), Segment: s.base, Pos: b.pos, End: b.end,
			FirstOffset: b.first, LastOffset: b.last, Reason: fmt.Sprint(reasons[i])}
		l.logger.Log(context.Background(), slog.LevelError, "damaged range in closed segment; reads of its offsets fail", d.LogAttrs()...)
	}
}

// orphanBound returns the offset past every batch that the index files of
// segments whose .log file is gone say existed, or -1, and reports such
// segments above first, the first segment's base. A deleted active segment
// must not let its offsets be given out again.
func (l *Log) orphanBound(names []string, have map[int64]bool, first int64) int64 {
	bound := int64(-1)
	for _, name := range names {
		for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
			stem, ok := strings.CutSuffix(name, suffix)
			if !ok {
				continue
			}
			base, err := strconv.ParseInt(stem, 10, 64)
			if err != nil || base < 0 || have[base] {
				continue
			}
			b := max(base+1, indexBound(l.fs, l.dir, base))
			// Below the first segment it is a leftover of retention.
			if base > first && suffix == indexSuffix {
				l.logger.Error("segment file missing: its offsets are gone and are not given out again",
					"segment", base, "file", segmentName(l.dir, base, logSuffix), "up_to_offset", b-1)
			}
			bound = max(bound, b)
		}
	}
	return bound
}

// indexBound returns the offset after the base offset of the last batch
// that segment base's index files name, whether or not they agree with the
// segment, or -1 when they are missing or fail their checksum. The base
// offset is a lower bound of what was once assigned.
func indexBound(fs vfs.FS, dir string, base int64) int64 {
	bound := int64(-1)
	for _, k := range []struct {
		suffix string
		size   int
	}{{indexSuffix, offsetEntrySize}, {timeIndexSuffix, timeEntrySize}} {
		body, ok := readChecked(fs, segmentName(dir, base, k.suffix), k.size)
		if !ok {
			continue
		}
		for p := 0; p+k.size <= len(body); p += k.size {
			rel := binary.BigEndian.Uint32(body[p+k.size-8:])
			bound = max(bound, base+int64(rel)+1)
		}
	}
	return bound
}

package log

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"

	"github.com/heraldhq/herald/internal/records"
)

// peekSize is how much of a batch header the read path needs: up to and
// including lastOffsetDelta.
const peekSize = 27

// Read appends to dst whole batches, starting with the batch that holds
// offset (or the first batch after it, where compaction left a gap), up to
// maxBytes in all. If minOne is set and the first batch is larger than
// maxBytes, it is returned whole anyway (KIP-74). Only data below the high
// watermark is returned; offset == HighWatermark returns no bytes and no
// error. An offset below the log start offset or above the log end offset
// returns ErrOffsetOutOfRange.
//
// Batches come from one segment per call. dst's spare capacity is used
// first, so a caller that reuses dst reads without allocating.
func (l *Log) Read(dst []byte, offset int64, maxBytes int, minOne bool) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		out, err := l.readOnce(dst, offset, maxBytes, minOne)
		if errors.Is(err, os.ErrClosed) && attempt < 3 {
			// The segment was deleted or replaced under us; look again.
			continue
		}
		return out, err
	}
}

// readTarget is a segment and where in it to start looking.
type readTarget struct {
	s        *segment
	pos      int64
	readable int64
	// base is the base offset the batch at pos must have, or -1.
	base int64
	// bad is the segment's damaged ranges.
	bad []badRange
}

func (l *Log) readOnce(dst []byte, offset int64, maxBytes int, minOne bool) ([]byte, error) {
	from := offset
	for {
		targets, n, nextBase, err := l.readTargets(from, from == offset)
		if err != nil {
			return dst, err
		}
		for _, t := range targets[:n] {
			out, found, err := readSegment(dst, t, offset, maxBytes, minOne)
			if err != nil || found {
				return out, err
			}
		}
		if nextBase < 0 {
			return dst, nil
		}
		// Compaction emptied those segments; everything in the next one
		// is past offset.
		from = nextBase
	}
}

// readTargets finds the segment that holds offset and up to three after it
// (returned in an array, so the read path does not allocate), and the base
// of the segment after those, or -1. check is false when the caller has
// already checked offset's range.
func (l *Log) readTargets(offset int64, check bool) (targets [4]readTarget, n int, nextBase int64, err error) {
	hw := l.hw.Load()
	l.mu.RLock()
	defer l.mu.RUnlock()
	nextBase = -1
	if l.mu.closed {
		return targets, 0, nextBase, ErrClosed
	}
	if check && (offset < l.mu.logStart || offset > l.mu.next) {
		return targets, 0, nextBase, fmt.Errorf("%w: offset %d, log is [%d, %d)", ErrOffsetOutOfRange, offset, l.mu.logStart, l.mu.next)
	}
	if offset >= hw {
		return targets, 0, nextBase, nil
	}
	if len(l.mu.lost) > 0 {
		if r, ok := l.lostAtLocked(offset); ok {
			return targets, 0, nextBase, &DamagedError{FirstOffset: r.first, LastOffset: r.last, Segment: -1, Pos: -1, End: -1}
		}
	}
	segs := l.mu.segments
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	i = max(i, 0)
	j := i
	for ; j < len(segs) && n < len(targets); j++ {
		targets[n] = readTarget{s: segs[j], readable: segs[j].readable.Load(), bad: segs[j].bad}
		if j == i {
			targets[n].pos, targets[n].base = segs[j].lookup(offset)
		}
		n++
	}
	if j < len(segs) {
		nextBase = segs[j].base
	}
	return targets, n, nextBase, nil
}

// readSegment reads from one segment; found is false when the segment
// holds nothing at or after offset.
func readSegment(dst []byte, t readTarget, offset int64, maxBytes int, minOne bool) ([]byte, bool, error) {
	start := len(dst)
	dst = slices.Grow(dst, peekSize)
	peek := dst[start : start+peekSize]
	pos := t.pos
	var size int
	for {
		if len(t.bad) > 0 {
			if b, ok := badAt(t.bad, pos); ok {
				if offset <= b.last {
					return dst[:start], false, damagedErr(t.s, b)
				}
				pos, t.base = b.end, -1
				continue
			}
		}
		if pos+records.HeaderSize > t.readable {
			return dst[:start], false, nil
		}
		if err := readFull(t.s, peek, pos); err != nil {
			return dst[:start], false, err
		}
		h := records.Header(peek)
		if t.base >= 0 && pos == t.pos && h.BaseOffset() != t.base {
			// An index entry that checksummed but disagrees with the
			// data (a bug, or damage the CRC missed): scan instead.
			pos, t.base = 0, -1
			continue
		}
		size = int(h.BatchLength()) + records.LengthPrefix
		if size < records.HeaderSize || pos+int64(size) > t.readable {
			return dst[:start], false, fmt.Errorf("segment %d: bad batch length at %d", t.s.base, pos)
		}
		if h.BaseOffset()+int64(h.LastOffsetDelta()) >= offset {
			break
		}
		pos += int64(size)
	}
	limit := t.readable
	if len(t.bad) > 0 {
		limit = readLimit(t.bad, pos, limit)
	}
	want := int(min(int64(maxBytes), limit-pos))
	if size > want {
		if !minOne {
			return dst[:start], true, nil
		}
		want = size
	}
	dst = slices.Grow(dst[:start], want)
	buf := dst[start : start+want]
	if err := readFull(t.s, buf, pos); err != nil {
		return dst[:start], false, err
	}
	return dst[:start+wholeBatches(buf)], true, nil
}

// wholeBatches returns the length of the longest prefix of b made of whole
// batches.
func wholeBatches(b []byte) int {
	n := 0
	for {
		size, ok := records.PeekSize(b[n:])
		if !ok || n+size > len(b) {
			return n
		}
		n += size
	}
}

func readFull(s *segment, b []byte, pos int64) error {
	n, err := s.file.ReadAt(b, pos)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read segment %d at %d: %w", s.base, pos, err)
}

// Scan calls fn with every batch from offset from up to the high watermark,
// in order; it stops at the first error fn returns. The slice passed to fn
// is reused after fn returns. Damaged ranges are skipped and logged.
// Internal topics replay themselves with it.
func (l *Log) Scan(from int64, fn func(batch []byte) error) error {
	var buf []byte
	for off := max(from, l.LogStartOffset()); off < l.HighWatermark(); {
		var err error
		if buf, err = l.Read(buf[:0], off, 1<<20, true); err != nil {
			var d *DamagedError
			if errors.As(err, &d) && d.LastOffset >= off {
				l.logger.Error("replay skips damaged offsets", "first_offset", d.FirstOffset, "last_offset", d.LastOffset, "err", err)
				off = d.LastOffset + 1
				continue
			}
			return err
		}
		if len(buf) == 0 {
			return nil
		}
		for b := buf; len(b) >= records.HeaderSize; {
			size, ok := records.PeekSize(b)
			if !ok || size > len(b) {
				break
			}
			off = records.Header(b).LastOffset() + 1
			if err := fn(b[:size]); err != nil {
				return err
			}
			b = b[size:]
		}
	}
	return nil
}

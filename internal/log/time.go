package log

import (
	"fmt"

	"github.com/heraldhq/herald/internal/records"
)

// OffsetForTime returns the earliest offset whose record timestamp is at
// least ts, and that record's timestamp (ListOffsets by timestamp). found is
// false when no readable record is that late.
func (l *Log) OffsetForTime(ts int64) (offset, recordTs int64, found bool, err error) {
	type cand struct {
		s        *segment
		pos      int64
		base     int64 // the base offset of the batch at pos, or -1
		readable int64
	}
	l.mu.RLock()
	var cands []cand
	for _, s := range l.mu.segments {
		if s.maxTs >= ts {
			pos, base := s.lookupTime(ts)
			cands = append(cands, cand{s, pos, base, s.readable.Load()})
		}
	}
	start := l.mu.logStart
	l.mu.RUnlock()
	var buf, scratch []byte
	for _, c := range cands {
		for pos := c.pos; pos+records.HeaderSize <= c.readable; {
			buf, err = readBatchAt(c.s, buf, pos, c.readable)
			indexed := c.base >= 0 && pos == c.pos
			if err != nil && !indexed {
				return 0, 0, false, err
			}
			h := records.Header(buf)
			if indexed && (err != nil || h.BaseOffset() != c.base) {
				pos, c.base = 0, -1 // the time index disagrees with the data
				continue
			}
			if h.MaxTimestamp() >= ts && h.LastOffset() >= start && !h.IsControl() {
				offset, recordTs, found, scratch, err = records.OffsetAtTime(buf, scratch, ts)
				if err != nil || (found && offset >= start) {
					return offset, recordTs, found, err
				}
			}
			pos += int64(len(buf))
		}
	}
	return 0, 0, false, nil
}

// MaxTimestamp returns the record with the largest timestamp (the first,
// when several share it): ListOffsets' MaxTimestamp spec.
func (l *Log) MaxTimestamp() (offset, ts int64, found bool, err error) {
	l.mu.RLock()
	var best *segment
	for _, s := range l.mu.segments {
		if s.maxTs >= 0 && s.maxTsPos < s.readable.Load() && (best == nil || s.maxTs > best.maxTs) {
			best = s
		}
	}
	var pos, readable int64
	if best != nil {
		pos, readable, ts = best.maxTsPos, best.readable.Load(), best.maxTs
	}
	l.mu.RUnlock()
	if best == nil {
		return -1, -1, false, nil
	}
	buf, err := readBatchAt(best, nil, pos, readable)
	if err != nil {
		return 0, 0, false, err
	}
	offset, ts, found, _, err = records.OffsetAtTime(buf, nil, ts)
	return offset, ts, found, err
}

// readBatchAt reads the whole batch at pos into buf.
func readBatchAt(s *segment, buf []byte, pos, readable int64) ([]byte, error) {
	buf = append(buf[:0], make([]byte, records.HeaderSize)...)
	if err := readFull(s, buf, pos); err != nil {
		return nil, err
	}
	n := records.Header(buf).Size()
	if n < records.HeaderSize || pos+int64(n) > readable {
		return nil, fmt.Errorf("segment %d: bad batch length at %d", s.base, pos)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if err := readFull(s, buf, pos); err != nil {
		return nil, err
	}
	return buf, nil
}

package share

import (
	"errors"
	"time"
)

// State is the state of one record of a share partition. The values are
// part of the persisted format (format.go); do not change.
type State int8

const (
	Available    State = 0 // may be acquired
	Acquired     State = 1 // locked by one member until its deadline
	Acknowledged State = 2 // accepted: done
	Archived     State = 4 // rejected, past the delivery limit, or not a deliverable record
)

// Acknowledge types, as ShareFetch and ShareAcknowledge carry them. Part of
// the wire format; do not change.
const (
	AckGap     int8 = 0
	AckAccept  int8 = 1
	AckRelease int8 = 2
	AckReject  int8 = 3
	AckRenew   int8 = 4 // KIP-1222: extend the lock
)

// ErrInvalidRecordState is an acknowledgement of a record the member does
// not hold (INVALID_RECORD_STATE).
var ErrInvalidRecordState = errors.New("record is not acquired by this member")

// ErrInvalidAck is an acknowledgement type that is not known.
var ErrInvalidAck = errors.New("invalid acknowledge type")

// rec is one in-flight record.
type rec struct {
	state    State
	count    int16     // deliveries so far
	owner    string    // the member holding the lock; Acquired only
	deadline time.Time // lock expiry; Acquired only
}

// Range is a run of acquired offsets with one delivery count, as
// ShareFetch's AcquiredRecords carries it.
type Range struct {
	First, Last int64
	Count       int16
}

// Partition is the share-partition state of one group on one topic
// partition: the share-partition start offset and the records in flight
// after it. It does no I/O and is not safe for concurrent use.
type Partition struct {
	// Start is the share-partition start offset (SPSO): every offset
	// below it is acknowledged or archived.
	Start int64
	// recs[i] is offset Start+i. Invariant: after compact, recs[0] (if
	// any) is Available or Acquired. Offsets from End() on have never
	// been acquired.
	recs []rec
}

// End is the first offset never acquired (Kafka's SPEO + 1).
func (p *Partition) End() int64 { return p.Start + int64(len(p.recs)) }

// InFlight is the number of offsets tracked after Start.
func (p *Partition) InFlight() int { return len(p.recs) }

// Reset drops every in-flight record and starts at off.
func (p *Partition) Reset(off int64) {
	p.Start, p.recs = off, nil
}

// TrimTo drops records below off (deleted from the log): they can no longer
// be delivered.
func (p *Partition) TrimTo(off int64) {
	if off <= p.Start {
		return
	}
	if off >= p.End() {
		p.Reset(off)
		return
	}
	p.recs = p.recs[off-p.Start:]
	p.Start = off
	p.compact()
}

// at returns the record at off, or nil outside [Start, End).
func (p *Partition) at(off int64) *rec {
	if off < p.Start || off >= p.End() {
		return nil
	}
	return &p.recs[off-p.Start]
}

// TryAcquire acquires the in-flight record at off for member if it is
// Available; it reports whether it did and the record's delivery count.
func (p *Partition) TryAcquire(off int64, member string, deadline time.Time) (int16, bool) {
	r := p.at(off)
	if r == nil || r.state != Available {
		return 0, false
	}
	r.state, r.owner, r.deadline = Acquired, member, deadline
	r.count++
	return r.count, true
}

// Extend appends offset off (>= End) to the in-flight records: offsets
// between End and off are gaps (archived); off itself is acquired by
// member when deliverable, else archived. It returns off's delivery count.
func (p *Partition) Extend(off int64, deliverable bool, member string, deadline time.Time) int16 {
	for p.End() < off {
		p.recs = append(p.recs, rec{state: Archived})
	}
	if !deliverable {
		p.recs = append(p.recs, rec{state: Archived})
		return 0
	}
	p.recs = append(p.recs, rec{state: Acquired, count: 1, owner: member, deadline: deadline})
	return 1
}

// FirstAvailable is the lowest Available offset, or End when none is.
func (p *Partition) FirstAvailable() int64 {
	for i := range p.recs {
		if p.recs[i].state == Available {
			return p.Start + int64(i)
		}
	}
	return p.End()
}

// Holds reports whether member has a record Acquired.
func (p *Partition) Holds(member string) bool {
	for i := range p.recs {
		if p.recs[i].state == Acquired && p.recs[i].owner == member {
			return true
		}
	}
	return false
}

// HasAvailable reports whether an in-flight record may be acquired.
func (p *Partition) HasAvailable() bool { return p.FirstAvailable() < p.End() }

// Acknowledge applies one acknowledgement of member to [first, last]:
// every offset must be Acquired by member (gaps may also be Archived
// already). limit is the delivery count limit: a released record that
// reached it is archived. It changes nothing on error.
func (p *Partition) Acknowledge(member string, first, last int64, typ int8, limit int16, lock time.Time) error {
	if typ < AckGap || typ > AckRenew {
		return ErrInvalidAck
	}
	if first > last || first < p.Start || last >= p.End() {
		return ErrInvalidRecordState
	}
	for off := first; off <= last; off++ {
		r := p.at(off)
		if r.state != Acquired || r.owner != member {
			if typ == AckGap && r.state == Archived {
				continue
			}
			return ErrInvalidRecordState
		}
	}
	for off := first; off <= last; off++ {
		p.ack(p.at(off), typ, limit, lock)
	}
	p.compact()
	return nil
}

func (p *Partition) ack(r *rec, typ int8, limit int16, lock time.Time) {
	switch typ {
	case AckAccept:
		*r = rec{state: Acknowledged, count: r.count}
	case AckGap, AckReject:
		*r = rec{state: Archived, count: r.count}
	case AckRelease:
		p.release(r, limit)
	case AckRenew:
		r.deadline = lock
	}
}

// release makes an acquired record available again, or archives it when
// its delivery count reached limit.
func (p *Partition) release(r *rec, limit int16) {
	if r.count >= limit {
		*r = rec{state: Archived, count: r.count}
		return
	}
	*r = rec{state: Available, count: r.count}
}

// Expire releases every lock whose deadline is at or before now; it
// reports whether any was.
func (p *Partition) Expire(now time.Time, limit int16) bool {
	changed := false
	for i := range p.recs {
		r := &p.recs[i]
		if r.state == Acquired && !r.deadline.After(now) {
			p.release(r, limit)
			changed = true
		}
	}
	if changed {
		p.compact()
	}
	return changed
}

// ReleaseMember releases every record member holds (its session closed or
// it left the group); it reports whether any was held.
func (p *Partition) ReleaseMember(member string, limit int16) bool {
	changed := false
	for i := range p.recs {
		r := &p.recs[i]
		if r.state == Acquired && r.owner == member {
			p.release(r, limit)
			changed = true
		}
	}
	if changed {
		p.compact()
	}
	return changed
}

// NextDeadline is the earliest lock deadline, or zero when nothing is
// acquired.
func (p *Partition) NextDeadline() time.Time {
	var d time.Time
	for i := range p.recs {
		r := &p.recs[i]
		if r.state == Acquired && (d.IsZero() || r.deadline.Before(d)) {
			d = r.deadline
		}
	}
	return d
}

// compact advances Start past finished records.
func (p *Partition) compact() {
	n := 0
	for n < len(p.recs) && (p.recs[n].state == Acknowledged || p.recs[n].state == Archived) {
		n++
	}
	if n == 0 {
		return
	}
	p.Start += int64(n)
	if n == len(p.recs) {
		p.recs = nil
		return
	}
	p.recs = p.recs[n:]
}

// Counts is the number of in-flight records in each state.
func (p *Partition) Counts() map[State]int {
	m := map[State]int{}
	for i := range p.recs {
		m[p.recs[i].state]++
	}
	return m
}

// appendRange adds off (delivered count times) to rs, merging with the last
// range when contiguous with the same count.
func appendRange(rs []Range, off int64, count int16) []Range {
	if n := len(rs); n > 0 && rs[n-1].Last+1 == off && rs[n-1].Count == count {
		rs[n-1].Last = off
		return rs
	}
	return append(rs, Range{First: off, Last: off, Count: count})
}

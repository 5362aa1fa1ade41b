package share

import (
	"errors"
	"sort"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	hlog "github.com/heraldhq/herald/internal/log"
	"github.com/heraldhq/herald/internal/records"
)

// Acquisition is what Acquire took for a member from one partition:
// whole stored batches covering Ranges (the client delivers only the
// acquired offsets of them).
type Acquisition struct {
	Records []byte
	Ranges  []Range
	// SelfBlocked: nothing was acquired because the in-flight limit
	// (MaxRecordLocks) is reached while the log has more records, and
	// member itself holds records of the window. Its acknowledgements
	// would free the window, but a client sends them with its next
	// request (franz-go's share consumer sends nothing while a fetch is
	// outstanding), so a fetch that long-polls now waits out MaxWait
	// with the whole group behind it: answer it soon instead.
	SelfBlocked bool
}

// Acquire locks up to maxRecords deliverable records of the partition for
// member: first released or expired records, then records never acquired,
// read from the log (below the last stable offset unless the group's
// share.isolation.level is read_uncommitted; aborted transactional records
// and control records are archived, never delivered). The new state is
// written to StateTopic before Acquire returns, and durable with the next
// synced write.
func (c *Coordinator) Acquire(group, member string, t *broker.Topic, part int32, maxRecords, maxBytes int) (Acquisition, error) {
	p := t.Partition(part)
	if p == nil {
		return Acquisition{}, ErrInvalidRequest
	}
	sp := c.part(partKey{group, t.ID, part})
	lock := c.lockDuration(group)
	limit := c.deliveryLimit(group)
	committed := c.groupConfig(group, CfgIsolation) != "read_uncommitted"
	reset := c.groupConfig(group, CfgAutoOffsetReset)
	locks := c.cfg.MaxRecordLocks
	if n, err := strconv.Atoi(c.groupConfig(group, CfgMaxRecordLocks)); err == nil && n > 0 {
		locks = n
	}
	sp.mu.Lock()
	a := acquirer{c: c, sp: sp, p: p, member: member, deadline: c.now().Add(lock), max: maxRecords,
		maxBytes: max(maxBytes, 1), limit: limit, committed: committed, locks: locks}
	a.init(reset)
	err := a.run()
	blocked := a.n == 0 && a.windowFull() && sp.st.Holds(member)
	if err == nil && a.changed {
		// Written, not waited for: the new delivery counts become
		// durable with the next synced write of the topic (the
		// acknowledgement of these records at the latest), so a
		// fetch costs no fsync of its own. Kafka does not persist
		// acquisitions at all.
		_, err = c.persistLocked(sp)
	}
	sp.mu.Unlock()
	if err != nil {
		return Acquisition{}, err
	}
	return Acquisition{Records: a.out, Ranges: a.ranges, SelfBlocked: blocked}, nil
}

// acquirer is one Acquire in progress; sp.mu is held throughout.
type acquirer struct {
	c         *Coordinator
	sp        *sharePart
	p         *broker.Partition
	member    string
	deadline  time.Time
	max       int
	maxBytes  int
	limit     int16
	committed bool
	locks     int // the in-flight limit (MaxRecordLocks or the group's)

	out     []byte
	ranges  []Range
	n       int  // records acquired
	changed bool // the state changed and must be persisted
	full    bool // the in-flight limit is reached
	// aborted transactions of the current read, by first offset, and the
	// producers whose aborted transaction the scan is inside.
	aborted []broker.AbortedTxn
	inAbort map[int64]bool
	scratch []byte
	readBuf []byte
}

// windowFull reports whether the in-flight limit stops acquiring records
// the log has past the window (below the last stable offset when reading
// committed: an open transaction's records cannot be acquired anyway).
func (a *acquirer) windowFull() bool {
	st := &a.sp.st
	if st.InFlight() < a.locks || st.FirstAvailable() < st.End() {
		return false
	}
	end := a.p.HighWatermark()
	if lso, err := a.p.LastStable(); err == nil && a.committed {
		end = lso
	}
	return end > st.End()
}

// init sets the start offset of a share partition fetched for the first
// time, from share.auto.offset.reset (latest by default), and drops
// records deleted from the log.
func (a *acquirer) init(reset string) {
	st := &a.sp.st
	if !a.sp.loaded {
		off := a.p.HighWatermark()
		if lso, err := a.p.LastStable(); err == nil && a.committed {
			off = lso // an open transaction's records may still commit
		}
		if reset == "earliest" {
			off = a.p.LogStartOffset()
		}
		st.Reset(off)
		a.sp.loaded, a.changed = true, true
	}
	if ls := a.p.LogStartOffset(); st.Start < ls {
		st.TrimTo(ls)
		a.changed = true
	}
}

// run scans the log from the first available record, acquiring.
func (a *acquirer) run() error {
	st := &a.sp.st
	from := st.FirstAvailable()
	budget := 4 * a.maxBytes // bytes scanned past acknowledged records
	for a.n < a.max && !a.full && budget > 0 {
		if from >= st.End() && st.InFlight() >= a.locks {
			return nil
		}
		buf, rr, err := a.p.Read(a.readBuf[:0], broker.ReadRequest{Offset: from, MaxBytes: a.maxBytes, MinOne: true, Committed: a.committed})
		a.readBuf = buf
		if errors.Is(err, hlog.ErrOffsetOutOfRange) {
			return nil // nothing there yet (or deleted under us)
		}
		if err != nil {
			return err
		}
		if len(buf) == 0 {
			return nil
		}
		budget -= len(buf)
		a.aborted = rr.Aborted
		sort.Slice(a.aborted, func(i, j int) bool { return a.aborted[i].FirstOffset < a.aborted[j].FirstOffset })
		a.inAbort = map[int64]bool{}
		next, err := a.batches(buf, from)
		if err != nil {
			return err
		}
		if next <= from {
			return nil
		}
		from = next
	}
	return nil
}

// batches walks the stored batches of buf, acquiring from each; it returns
// the offset after the last batch it finished.
func (a *acquirer) batches(buf []byte, from int64) (int64, error) {
	next := from
	for len(buf) >= records.HeaderSize {
		h := records.Header(buf)
		size := h.Size()
		if size > len(buf) {
			break
		}
		b := buf[:size]
		buf = buf[size:]
		took, err := a.batch(b)
		if err != nil {
			return next, err
		}
		if took {
			a.out = append(a.out, b...)
		}
		if a.n >= a.max || a.full {
			return next, nil
		}
		next = h.LastOffset() + 1
	}
	return next, nil
}

// batch acquires the deliverable offsets of one stored batch and reports
// whether it acquired any.
func (a *acquirer) batch(b []byte) (bool, error) {
	h := records.Header(b)
	aborted := a.isAborted(h) // first: it also tracks control batches
	deliverable := !h.IsControl() && !aborted
	offs, err := a.offsets(b, deliverable)
	if err != nil {
		return false, err
	}
	took := false
	for off := h.BaseOffset(); off <= h.LastOffset(); off++ {
		if a.n >= a.max || a.full {
			break
		}
		ok := deliverable && offs(off)
		if a.take(off, ok) {
			took = true
		}
	}
	return took, nil
}

// take acquires off if it can; it reports whether it did.
func (a *acquirer) take(off int64, deliverable bool) bool {
	st := &a.sp.st
	if off < st.Start {
		return false
	}
	if off < st.End() {
		count, ok := st.TryAcquire(off, a.member, a.deadline)
		if ok {
			a.ranges = appendRange(a.ranges, off, count)
			a.n++
			a.changed = true
		}
		return ok
	}
	if st.InFlight() >= a.locks {
		a.full = true
		return false
	}
	a.changed = true
	count := st.Extend(off, deliverable, a.member, a.deadline)
	if !deliverable {
		return false
	}
	a.ranges = appendRange(a.ranges, off, count)
	a.n++
	return true
}

// isAborted reports whether a transactional batch belongs to an aborted
// transaction, tracking abort markers as a read_committed consumer does.
func (a *acquirer) isAborted(h records.Header) bool {
	if !a.committed {
		return false
	}
	for len(a.aborted) > 0 && a.aborted[0].FirstOffset <= h.LastOffset() {
		a.inAbort[a.aborted[0].ProducerID] = true
		a.aborted = a.aborted[1:]
	}
	if h.IsControl() {
		delete(a.inAbort, h.ProducerID())
		return false
	}
	return h.IsTransactional() && a.inAbort[h.ProducerID()]
}

// offsets returns a test of which offsets of batch b hold a record: all
// of them unless compaction removed some.
func (a *acquirer) offsets(b []byte, deliverable bool) (func(int64) bool, error) {
	h := records.Header(b)
	if !deliverable || h.RecordCount() == h.LastOffsetDelta()+1 {
		return func(int64) bool { return true }, nil
	}
	present := map[int64]bool{}
	var err error
	a.scratch, err = records.EachRecord(b, a.scratch, func(r *records.Record) {
		present[h.BaseOffset()+int64(r.OffsetDelta)] = true
	})
	if err != nil {
		return nil, err
	}
	return func(off int64) bool { return present[off] }, nil
}

// AckBatch is one acknowledgement batch: Types has one type for the
// whole range or one per offset.
type AckBatch struct {
	First, Last int64
	Types       []int8
}

// Acknowledge applies member's acknowledgements to one partition, all or
// none, and returns once the new state is durable.
func (c *Coordinator) Acknowledge(group, member string, topic [16]byte, part int32, batches []AckBatch) error {
	if len(batches) == 0 {
		return nil
	}
	limit := c.deliveryLimit(group)
	lock := c.now().Add(c.lockDuration(group))
	c.mu.Lock()
	sp := c.mu.parts[partKey{group, topic, part}]
	c.mu.Unlock()
	if sp == nil {
		return ErrInvalidRecordState
	}
	sp.mu.Lock()
	saved := Partition{Start: sp.st.Start, recs: append([]rec(nil), sp.st.recs...)}
	err := applyAcks(&sp.st, member, batches, limit, lock)
	var app broker.Appended
	if err != nil {
		sp.st = saved
	} else {
		app, err = c.persistLocked(sp)
		// Released records, or room under MaxRecordLocks when the
		// start moved: either can let a waiting fetch acquire.
		if sp.st.HasAvailable() || sp.st.Start != saved.Start {
			sp.signalLocked()
		}
	}
	sp.mu.Unlock()
	if err != nil {
		return err
	}
	return app.Durable()
}

func applyAcks(st *Partition, member string, batches []AckBatch, limit int16, lock time.Time) error {
	for _, b := range batches {
		if b.Last < b.First || len(b.Types) == 0 {
			return ErrInvalidRequest
		}
		if len(b.Types) == 1 {
			if err := st.Acknowledge(member, b.First, b.Last, b.Types[0], limit, lock); err != nil {
				return err
			}
			continue
		}
		if int64(len(b.Types)) != b.Last-b.First+1 {
			return ErrInvalidRequest
		}
		for i, typ := range b.Types {
			off := b.First + int64(i)
			if err := st.Acknowledge(member, off, off, typ, limit, lock); err != nil {
				return err
			}
		}
	}
	return nil
}

// Available is closed when records of the partition become available
// again (released, expired); fetches wait on it with the log's Changed.
func (c *Coordinator) Available(group string, topic [16]byte, part int32) <-chan struct{} {
	sp := c.part(partKey{group, topic, part})
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.avail
}

package pubsub

import (
	"context"
	"maps"
	"math/bits"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// partition dispatches one assigned partition's records to its workers and
// tracks which offsets are handled.
//
// Records are sharded over a fixed set of workers by a hash of the key, so
// one key's records go to one worker, which handles them in offset order.
// Completion is tracked per fetched batch: a bitmap of handled records and
// a count of those left, both atomic, so a handled record costs two atomic
// operations and no lock. The partition lock is taken once per batch
// (dispatch, completion) and at commit time.
type partition struct {
	r       *Router
	tp      topicPartition
	handler Handler
	// lead takes each batch in offset order and runs its records itself
	// while handlers are fast, or forwards them to workers (by key hash)
	// to run concurrently; see lead.go.
	lead    *worker
	workers []*worker
	// fwdRecs counts the forwarded records the workers handled since the
	// lead last looked, and fwdFast those of them in fast chunks (see
	// lead.go).
	fwdRecs, fwdFast atomic.Int64
	// inlineMax is the lead's threshold (see lead.go): inlineMax but in
	// tests.
	inlineMax time.Duration

	// ctx is the handlers' context: cancelled when the partition is lost
	// or stopping takes longer than ShutdownTimeout.
	ctx    context.Context
	cancel context.CancelFunc
	// stopping is closed by stop (and stopped set): workers finish the
	// handler call they are in, start no other, and abandon backoff waits.
	stopping chan struct{}
	stopped  atomic.Bool
	stopOnce sync.Once
	wg       sync.WaitGroup // one per worker, and the lead

	// prior holds the attempts an earlier owner recorded, by offset; read
	// only after newPartition. nil if none.
	prior map[int64]int
	// careful is set while the records up to suspectEnd (the earlier
	// owner's dispatch mark: it stopped uncleanly, maybe in a handler) are
	// handled: all records then go to one worker, and each attempt of a
	// record up to suspectEnd is committed to the attempt record before it
	// begins, so that one that crashes the process is counted. It is
	// cleared at a dispatch that finds nothing pending past suspectEnd.
	careful    atomic.Bool
	suspectEnd int64

	mu struct {
		sync.Mutex
		// batches holds the dispatched batches not yet known handled, in
		// offset order. Invariant: every record before batches[0] is
		// handled, and next is past the last of them.
		batches []*batch
		// next is the offset to commit: every record before it is handled.
		// -1 until the first record is handled.
		next      kgo.EpochOffset
		committed int64 // last offset committed; -1 if none
		// pending counts the records of batches that are not complete.
		pending int
		paused  bool
		// drained, if not nil, is closed when pending falls to MaxPending/2.
		drained chan struct{}

		// first is the first dispatched offset, -1 until a dispatch.
		first int64
		// mark is the dispatch mark wanted in the attempt record: the
		// highest offset that may be dispatched once it is committed.
		// markSent is the mark of the attempt record maybeCommitOffset
		// built last, and markCommitted that of the last one committed.
		// Invariant: no record past markCommitted is dispatched (unless
		// committing failed: see dispatch); markCommitted <= mark.
		mark, markSent, markCommitted int64
		// held holds the batches of batches that wait for a mark commit
		// before they go to the workers, in offset order (see dispatch).
		held []heldBatch
		// counts holds attempts begun on records not handled yet, for the
		// attempt record: the earlier owners' and the failed ones here.
		counts map[int64]int
		// meta is the metadata last committed.
		meta string
		// hwm is the high watermark of the last fetch; 0 before one.
		hwm int64
		// base is the offset committed when the partition was assigned,
		// for the lag before this owner commits; -1 if none.
		base int64
	}
	// lag is the partition's lag gauge (RouterConfig.Metrics), nil
	// without metrics. Set under mu, so that a fetch and a commit do not
	// write it out of order.
	lag prometheus.Gauge
}

// batch is the records of one partition from one poll.
type batch struct {
	recs []*kgo.Record
	hwm  int64
	// done has bit i%64 of word i/64 set once recs[i] is handled.
	done []atomic.Uint64
	// left counts the records not handled; the worker that brings it to
	// zero reports the batch complete.
	left atomic.Int64
}

// setDone marks recs[i] handled. It does not touch left (see worker).
func (b *batch) setDone(i int32) { b.done[i>>6].Or(1 << (i & 63)) }

// firstUndone is the index of the first record not handled, or len(recs).
func (b *batch) firstUndone() int {
	for w := range b.done {
		if v := ^b.done[w].Load(); v != 0 {
			return min(w*64+bits.TrailingZeros64(v), len(b.recs))
		}
	}
	return len(b.recs)
}

// newPartition starts the partition's workers. rec is the attempt record
// committed with committed, its committed offset (-1 if none).
func newPartition(r *Router, tp topicPartition, h Handler, rec attemptRecord, committed int64) *partition {
	ctx, cancel := context.WithCancel(context.Background())
	p := &partition{r: r, tp: tp, handler: h, ctx: ctx, cancel: cancel, stopping: make(chan struct{}), inlineMax: inlineMax}
	p.mu.next = kgo.EpochOffset{Epoch: -1, Offset: -1}
	p.mu.committed = -1
	p.mu.base = committed
	p.mu.first, p.mu.mark, p.mu.markSent, p.mu.markCommitted = -1, -1, -1, -1
	if r.cfg.Metrics != nil {
		p.lag = r.cfg.Metrics.lagGauge(tp)
		p.setLagLocked()
	}
	p.mu.counts = make(map[int64]int)
	if len(rec.counts) > 0 {
		p.prior = rec.counts
		maps.Copy(p.mu.counts, rec.counts)
	}
	if rec.mark >= 0 && rec.mark >= committed {
		p.suspectEnd = rec.mark
		p.careful.Store(true)
	}
	p.workers = make([]*worker, r.cfg.Workers)
	for i := range p.workers {
		p.workers[i] = newWorker(p, i)
	}
	p.lead = newWorker(p, -1)
	p.lead.lead.init(len(p.workers))
	p.wg.Add(len(p.workers) + 1)
	for _, w := range p.workers {
		go w.run()
	}
	go p.lead.run()
	return p
}

// dispatch hands records (in offset order) to the lead. It never blocks,
// and reports whether MaxPending records are outstanding (see throttle).
func (p *partition) dispatch(recs []*kgo.Record, hwm int64) (full bool) {
	if len(recs) == 0 {
		return false
	}
	b := &batch{recs: recs, hwm: hwm, done: make([]atomic.Uint64, (len(recs)+63)/64)}
	b.left.Store(int64(len(recs)))
	it := item{b: b} // the whole batch, for the lead
	last := recs[len(recs)-1].Offset
	p.mu.Lock()
	if p.mu.first < 0 {
		p.mu.first = recs[0].Offset
	}
	p.mu.hwm = max(p.mu.hwm, hwm)
	p.setLagLocked()
	if p.careful.Load() && p.mu.pending == 0 && recs[0].Offset > p.suspectEnd {
		p.careful.Store(false) // every suspect is handled
	}
	p.mu.batches = append(p.mu.batches, b)
	p.mu.pending += len(recs)
	full = p.mu.pending >= p.r.cfg.MaxPending
	// The mark runs up to PollRecords records ahead of the dispatched
	// ones, raised when fewer than half of those are left. A batch past
	// the committed mark is held, with the ones after it, until a commit
	// covers it: commitLoop commits (soon, not at its next tick) and
	// sends the held batches on, so the poll loop never waits for a
	// commit and kgo goes on fetching meanwhile. (A partition tested
	// without Run has no client to commit with, and holds nothing.)
	ahead := int64(p.r.cfg.PollRecords)
	raise := last > p.mu.mark-ahead/2
	if raise {
		p.mu.mark = last + ahead
	}
	hold := p.r.cl != nil && (len(p.mu.held) > 0 || last > p.mu.markCommitted)
	if hold {
		p.mu.held = append(p.mu.held, heldBatch{last: last, it: it})
	} else {
		p.lead.push(it)
	}
	p.mu.Unlock()
	if raise || hold {
		p.r.commitSoon()
	}
	return full
}

// heldBatch is a dispatched batch that waits for a mark commit.
type heldBatch struct {
	last int64 // offset of the batch's last record
	it   item  // the batch, for the lead
}

// releaseLocked sends on the held batches that the committed mark covers,
// in order. mu must be held.
func (p *partition) releaseLocked() {
	n := 0
	for n < len(p.mu.held) && p.mu.held[n].last <= p.mu.markCommitted {
		p.lead.push(p.mu.held[n].it)
		p.mu.held[n] = heldBatch{}
		n++
	}
	p.mu.held = p.mu.held[n:]
	if len(p.mu.held) == 0 {
		p.mu.held = nil
	}
}

// throttle is called when the partition is full. It waits up to wait for
// the handlers to work the backlog down to MaxPending/2, which is all it
// takes when they are merely busy. If they do not (a key is stuck in
// retries), it pauses fetching the partition so that other partitions
// flow; the worker that brings the backlog down resumes it. (Pausing
// costs up to FetchMaxWait on resume, so it is the slow path.)
func (p *partition) throttle(wait time.Duration) {
	p.mu.Lock()
	if p.mu.pending <= p.r.cfg.MaxPending/2 {
		p.mu.Unlock() // drained already, between dispatch and now
		return
	}
	if p.mu.drained == nil {
		p.mu.drained = make(chan struct{})
	}
	drained := p.mu.drained
	p.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-drained:
		return
	case <-p.stopping:
		return
	case <-t.C:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.mu.paused && p.mu.pending > p.r.cfg.MaxPending/2 {
		p.mu.paused = true
		p.r.pause(p)
	}
}

// handled records that n more records of b are handled (their done bits
// already set), and does the batch's completion bookkeeping if they were
// its last.
func (p *partition) handled(b *batch, n int) {
	if n == 0 || b.left.Add(int64(-n)) > 0 {
		return
	}
	p.mu.Lock()
	p.mu.pending -= len(b.recs)
	// Drop complete batches now rather than at the next commit, so that
	// their records (and the fetch buffers under them) are garbage sooner.
	p.advanceLocked()
	low := p.mu.pending <= p.r.cfg.MaxPending/2
	if low && p.mu.drained != nil {
		close(p.mu.drained)
		p.mu.drained = nil
	}
	resume := p.mu.paused && low
	if resume {
		p.mu.paused = false
	}
	p.mu.Unlock()
	if resume {
		p.r.resume([]*partition{p})
	}
}

// advanceLocked moves next past every handled record at the front and
// drops complete batches. mu must be held.
func (p *partition) advanceLocked() {
	for len(p.mu.batches) > 0 {
		b := p.mu.batches[0]
		i := len(b.recs)
		if b.left.Load() > 0 {
			i = b.firstUndone()
		}
		if i > 0 {
			rec := b.recs[i-1]
			p.mu.next = kgo.EpochOffset{Epoch: rec.LeaderEpoch, Offset: rec.Offset + 1}
		}
		if i < len(b.recs) {
			return
		}
		p.mu.batches[0] = nil
		p.mu.batches = p.mu.batches[1:]
	}
}

// unpause clears the paused flag, reporting whether it was set.
func (p *partition) unpause() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	was := p.mu.paused
	p.mu.paused = false
	return was
}

// maybeCommitOffset returns the offset to commit and its attempt record
// (with no dispatch mark if clean), if either is new.
func (p *partition) maybeCommitOffset(clean bool) (kgo.EpochOffset, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.advanceLocked()
	eo := p.mu.next
	if eo.Offset < 0 {
		if p.mu.first < 0 {
			return eo, "", false // nothing dispatched: nothing to say
		}
		eo = kgo.EpochOffset{Epoch: -1, Offset: p.mu.first}
	}
	for off := range p.mu.counts {
		if off < eo.Offset {
			delete(p.mu.counts, off)
		}
	}
	mark := p.mu.mark
	if clean {
		mark = -1
	}
	meta := encodeAttempts(mark, p.mu.counts, eo.Offset)
	p.mu.markSent = mark
	return eo, meta, eo.Offset > p.mu.committed || meta != p.mu.meta
}

// setCommitted records that the offset and attempt record maybeCommitOffset
// returned last are committed (the router's commitMu keeps the two calls
// paired), and sends on the held batches that the mark now covers.
func (p *partition) setCommitted(off int64, meta string) {
	p.mu.Lock()
	p.mu.committed = max(p.mu.committed, off)
	p.mu.meta = meta
	p.mu.markCommitted = p.mu.markSent
	p.setLagLocked()
	p.releaseLocked()
	p.mu.Unlock()
}

// setLagLocked sets the lag gauge: the records from the committed offset
// to the high watermark, as kadm.Lag computes them from the broker. mu
// must be held.
func (p *partition) setLagLocked() {
	if p.lag == nil {
		return
	}
	committed := max(p.mu.committed, p.mu.base, 0)
	p.lag.Set(float64(max(p.mu.hwm-committed, 0)))
}

// priorAttempts is how many attempts the record at off had before this
// owner: as recorded, or, for a suspect the record does not name, one
// (the owner that stopped uncleanly may have begun it), capped so that
// it still gets an attempt here.
func (p *partition) priorAttempts(off int64) int {
	if n, ok := p.prior[off]; ok {
		return n
	}
	if p.careful.Load() && off <= p.suspectEnd {
		return min(1, p.r.cfg.MaxAttempts-1)
	}
	return 0
}

// noteAttempts sets the attempts begun on the record at off.
func (p *partition) noteAttempts(off int64, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.counts[off] = n
}

// suspect reports whether attempts on the record at off must be recorded
// before they begin.
func (p *partition) suspect(off int64) bool { return p.careful.Load() && off <= p.suspectEnd }

func (p *partition) stop() {
	p.stopOnce.Do(func() {
		p.stopped.Store(true)
		close(p.stopping)
	})
}

// deadLetter publishes m to the dead-letter topic, retrying until it is
// written or the partition stops.
func (p *partition) deadLetter(m *Message, cause error) (sent bool) {
	log := p.r.cfg.Logger.With("topic", p.tp.topic, "partition", p.tp.partition,
		"offset", m.Record.Offset, "attempts", m.Attempt, "err", cause)
	dlq := p.r.cfg.DeadLetterTopic(p.tp.topic)
	if mt := p.r.cfg.Metrics; mt != nil {
		defer func() {
			if sent {
				mt.forTopic(p.tp.topic).deadLettered.Inc()
			}
		}()
	}
	if dlq == "" {
		log.Error("pubsub: handler failed; no dead-letter topic, dropping")
		return true
	}
	rec := DeadLetter(m, dlq, cause)
	for failed := 1; ; failed++ {
		err := p.r.cl.ProduceSync(p.ctx, rec).FirstErr()
		if err == nil {
			log.Warn("pubsub: handler failed; sent to dead-letter topic", "dlq", dlq)
			return true
		}
		log.Error("pubsub: dead-letter publish failed", "dlq", dlq, "publish_err", err)
		if !p.sleep(p.r.cfg.Backoff.Delay(failed)) {
			return false
		}
	}
}

// sleep waits d, or returns false early when the partition stops.
func (p *partition) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.stopping:
		return false
	case <-p.ctx.Done():
		return false
	}
}

// Dead-letter headers, added to a record's own headers when it is dead
// lettered. Part of the wire format; do not change.
const (
	HeaderDLQError     = "dlq_error"     // the last error, as text
	HeaderDLQAttempts  = "dlq_attempts"  // attempts made, decimal
	HeaderDLQTopic     = "dlq_topic"     // origin topic
	HeaderDLQPartition = "dlq_partition" // origin partition, decimal
	HeaderDLQOffset    = "dlq_offset"    // origin offset, decimal
	HeaderDLQGroup     = "dlq_group"     // consumer group that failed it
	HeaderDLQTime      = "dlq_time"      // when, RFC 3339
	HeaderDLQRedrives  = "dlq_redrives"  // times re-driven before, decimal
	dlqHeaderPrefix    = "dlq_"
)

// DeadLetter returns the dead-letter record for m failed with cause: the
// original key, value and headers (less earlier dlq_ headers) plus the
// dlq_ headers that say what failed where.
func DeadLetter(m *Message, dlqTopic string, cause error) *kgo.Record {
	src := m.Record
	hs := make([]kgo.RecordHeader, 0, len(src.Headers)+8)
	redrives := "0"
	for _, h := range src.Headers {
		if h.Key == HeaderDLQRedrives {
			redrives = string(h.Value)
		}
		if !isDLQHeader(h.Key) {
			hs = append(hs, h)
		}
	}
	add := func(k, v string) { hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
	add(HeaderDLQError, cause.Error())
	add(HeaderDLQAttempts, strconv.Itoa(m.Attempt))
	add(HeaderDLQTopic, src.Topic)
	add(HeaderDLQPartition, strconv.Itoa(int(src.Partition)))
	add(HeaderDLQOffset, strconv.FormatInt(src.Offset, 10))
	add(HeaderDLQGroup, m.Group)
	add(HeaderDLQTime, time.Now().UTC().Format(time.RFC3339Nano))
	add(HeaderDLQRedrives, redrives)
	return &kgo.Record{Topic: dlqTopic, Key: src.Key, Value: src.Value, Headers: hs}
}

func isDLQHeader(k string) bool { return len(k) > 4 && k[:4] == dlqHeaderPrefix }

// keyHash is FNV-1a of a record key. It is fixed, not seeded per process,
// so a key lands on the same worker in every run, which makes a slow key's
// neighbours reproducible.
func keyHash(key []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range key {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

package pubsub

import (
	"context"
	"errors"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
)

// partition dispatches one assigned partition's records to key workers and
// tracks which offsets are handled.
type partition struct {
	r       *Router
	tp      topicPartition
	handler Handler

	// ctx is the handlers' context: cancelled when the partition is lost
	// or stopping takes longer than ShutdownTimeout.
	ctx    context.Context
	cancel context.CancelFunc
	// stopping is closed by stop: workers finish the handler call they are
	// in, start no other, and abandon backoff waits.
	stopping chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup // one per running key worker

	mu struct {
		sync.Mutex
		// pending holds the dispatched records not yet known handled, in
		// offset order, from index head on.
		// Invariant: pending[i].rec.Offset < pending[i+1].rec.Offset.
		pending []*pendingRecord
		head    int
		// next is the offset to commit: every record before it is handled.
		// -1 until the first record is handled.
		next      kgo.EpochOffset
		committed int64 // last offset committed; -1 if none
		keys      map[string]*keyQueue
		paused    bool
		// drained, if not nil, is closed when pending falls to MaxPending/2.
		drained chan struct{}
	}
}

type pendingRecord struct {
	rec  *kgo.Record
	hwm  int64
	done bool
}

// keyQueue holds one key's records waiting for that key's worker.
type keyQueue struct{ recs []*pendingRecord }

func newPartition(r *Router, tp topicPartition, h Handler) *partition {
	ctx, cancel := context.WithCancel(context.Background())
	p := &partition{r: r, tp: tp, handler: h, ctx: ctx, cancel: cancel, stopping: make(chan struct{})}
	p.mu.next = kgo.EpochOffset{Epoch: -1, Offset: -1}
	p.mu.committed = -1
	p.mu.keys = make(map[string]*keyQueue)
	return p
}

// dispatch queues records (in offset order) on their keys' workers,
// starting workers for idle keys. It never blocks, and reports whether
// MaxPending records are outstanding (see throttle).
func (p *partition) dispatch(recs []*kgo.Record, hwm int64) (full bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rec := range recs {
		pr := &pendingRecord{rec: rec, hwm: hwm}
		p.mu.pending = append(p.mu.pending, pr)
		key := string(rec.Key)
		if q := p.mu.keys[key]; q != nil {
			q.recs = append(q.recs, pr)
			continue
		}
		q := &keyQueue{recs: []*pendingRecord{pr}}
		p.mu.keys[key] = q
		p.wg.Add(1)
		go p.work(key, q)
	}
	return len(p.mu.pending)-p.mu.head >= p.r.cfg.MaxPending
}

// throttle is called when the partition is full. It waits up to wait for
// the handlers to work the backlog down to MaxPending/2, which is all it
// takes when they are merely busy. If they do not (a key is stuck in
// retries), it pauses fetching the partition so that other partitions
// flow; the last worker to bring the backlog down resumes it. (Pausing
// costs up to FetchMaxWait on resume, so it is the slow path.)
func (p *partition) throttle(wait time.Duration) {
	p.mu.Lock()
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
	if !p.mu.paused && len(p.mu.pending)-p.mu.head > p.r.cfg.MaxPending/2 {
		p.mu.paused = true
		p.r.pause(p)
	}
}

// work handles key's records one at a time until its queue is empty.
func (p *partition) work(key string, q *keyQueue) {
	defer p.wg.Done()
	m := &Message{Group: p.r.cfg.Group}
	for {
		p.mu.Lock()
		if len(q.recs) == 0 || p.isStopping() {
			delete(p.mu.keys, key)
			p.mu.Unlock()
			return
		}
		pr := q.recs[0]
		p.mu.Unlock()

		ok := p.handle(m, pr)

		p.mu.Lock()
		q.recs = q.recs[1:]
		if !ok {
			// Stopped mid-record: it stays unhandled and uncommitted, and
			// so does everything after it.
			delete(p.mu.keys, key)
			p.mu.Unlock()
			return
		}
		resume := p.doneLocked(pr)
		p.mu.Unlock()
		if resume {
			p.r.resume([]*partition{p})
		}
	}
}

// doneLocked marks pr handled and advances the commit offset past every
// handled record at the front. It reports whether fetching should resume.
// mu must be held.
func (p *partition) doneLocked(pr *pendingRecord) bool {
	pr.done = true
	for p.mu.head < len(p.mu.pending) && p.mu.pending[p.mu.head].done {
		rec := p.mu.pending[p.mu.head].rec
		p.mu.next = kgo.EpochOffset{Epoch: rec.LeaderEpoch, Offset: rec.Offset + 1}
		p.mu.pending[p.mu.head] = nil
		p.mu.head++
	}
	if p.mu.head > 1024 && p.mu.head*2 > len(p.mu.pending) {
		p.mu.pending = append(p.mu.pending[:0], p.mu.pending[p.mu.head:]...)
		p.mu.head = 0
	}
	low := len(p.mu.pending)-p.mu.head <= p.r.cfg.MaxPending/2
	if low && p.mu.drained != nil {
		close(p.mu.drained)
		p.mu.drained = nil
	}
	if p.mu.paused && low {
		p.mu.paused = false
		return true
	}
	return false
}

// unpause clears the paused flag, reporting whether it was set.
func (p *partition) unpause() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	was := p.mu.paused
	p.mu.paused = false
	return was
}

func (p *partition) maybeCommitOffset() (kgo.EpochOffset, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.next, p.mu.next.Offset > p.mu.committed
}

func (p *partition) setCommitted(off int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.committed = max(p.mu.committed, off)
}

func (p *partition) stop() { p.stopOnce.Do(func() { close(p.stopping) }) }

func (p *partition) isStopping() bool {
	select {
	case <-p.stopping:
		return true
	default:
		return false
	}
}

// handle runs the handler on pr until it succeeds or the record is dead
// lettered (true), or the partition stops first (false).
func (p *partition) handle(m *Message, pr *pendingRecord) bool {
	*m = Message{Record: pr.rec, Group: p.r.cfg.Group, HighWatermark: pr.hwm}
	e, decodeErr := event.FromRecord(pr.rec)
	if errors.Is(decodeErr, event.ErrNotEvent) {
		decodeErr = nil
		e = event.Event{Key: string(pr.rec.Key), Data: pr.rec.Value}
	}
	m.Event = e
	for attempt := 1; ; attempt++ {
		m.Attempt = attempt
		err := Permanent(decodeErr)
		if err == nil {
			err = p.call(m)
		}
		if err == nil {
			return true
		}
		if p.ctx.Err() != nil {
			return false // cancelled by us: not the handler's failure
		}
		if IsPermanent(err) || attempt >= p.r.cfg.MaxAttempts {
			return p.deadLetter(m, err)
		}
		if !p.sleep(p.r.cfg.Backoff.Delay(attempt)) {
			return false
		}
	}
}

// call runs the handler once, turning a panic into a *PanicError.
func (p *partition) call(m *Message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return p.handler(event.NewContext(p.ctx, m.Event), m)
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

// deadLetter publishes m to the dead-letter topic, retrying until it is
// written or the partition stops.
func (p *partition) deadLetter(m *Message, cause error) bool {
	log := p.r.cfg.Logger.With("topic", p.tp.topic, "partition", p.tp.partition,
		"offset", m.Record.Offset, "attempts", m.Attempt, "err", cause)
	dlq := p.r.cfg.DeadLetterTopic(p.tp.topic)
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

package pubsub

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
)

// worker handles the records of the keys that hash to it, one record at a
// time and in offset order per key.
//
// A key whose record failed and waits for a retry is parked: the worker
// sets it and its later records aside, goes on with other keys, and takes
// the key up again when its backoff timer fires. So a retrying key holds
// back only itself, and no goroutine sleeps through a backoff.
type worker struct {
	p   *partition
	idx int // index in p.workers; -1 for the lead

	// outstanding counts the records the lead forwarded to this worker
	// that are not handled yet (parked ones included). The lead runs a
	// record itself only when its key's worker has none (see lead.go).
	outstanding atomic.Int64

	q struct {
		sync.Mutex
		items []item // pushed, not yet taken by run
	}
	wake  chan struct{} // cap 1; signalled by push
	spare []item        // run's empty buffer, swapped with q.items

	// The fields below are owned by run's goroutine.

	// parked holds the keys waiting for a retry.
	// Invariant: a parked key's records are in parked[key].recs, and in
	// no other place but the queue's later items. Written under parkMu
	// (which the lead's watchdog takes to read it), read without it.
	parked    map[string]*parkedKey
	parkMu    sync.Mutex
	m         Message       // the record being handled; reused
	slab      ctxSlab       // for m.slab
	decodeErr error         // m.Record's event decode error
	wait      time.Duration // set by attempt: the wait an error asked for (RetryAfter)

	lead leadState // the lead's own state; unused by the other workers
}

// item is a chunk of a batch for the worker (idx, ascending; nil for the
// whole batch, which only the lead gets), or a parked key whose backoff
// is over (retry).
type item struct {
	b     *batch
	idx   []int32
	retry *parkedKey
	adopt *parkedKey // a key the lead parks here (lead.go's handOver)
}

type recRef struct {
	b *batch
	i int32
}

// parkedKey is one key's records waiting for recs[0]'s retry.
type parkedKey struct {
	key      string
	recs     []recRef
	attempts int           // failed attempts made on recs[0], counted toward MaxAttempts
	tries    int           // failures of recs[0], transient ones too; sizes the backoff
	wait     time.Duration // if > 0, the next retry's wait instead of the backoff
	ev       event.Event   // recs[0] decoded
	evErr    error         // recs[0]'s decode error, if any
	timer    *time.Timer
}

type outcome int

const (
	outcomeDone    outcome = iota // handled or dead-lettered
	outcomeRetry                  // failed; retry after a backoff
	outcomeWait                   // failed transiently; retry, not counting the attempt
	outcomeStopped                // the partition stopped first
)

func newWorker(p *partition, idx int) *worker {
	return &worker{p: p, idx: idx, wake: make(chan struct{}, 1), parked: make(map[string]*parkedKey)}
}

// push queues it for the worker. It never blocks: the queue is bounded by
// the partition's MaxPending throttle, not here.
func (w *worker) push(it item) {
	w.q.Lock()
	w.q.items = append(w.q.items, it)
	w.q.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// next waits for queued items and takes all of them, or reports false
// when the partition stops.
func (w *worker) next() ([]item, bool) {
	for {
		if w.p.stopped.Load() {
			return nil, false
		}
		w.q.Lock()
		items := w.q.items
		if len(items) > 0 {
			w.q.items = w.spare
			w.q.Unlock()
			return items, true
		}
		w.q.Unlock()
		select {
		case <-w.wake:
		case <-w.p.stopping:
			return nil, false
		}
	}
}

func (w *worker) run() {
	defer w.p.wg.Done()
	defer w.stopTimers()
	for {
		items, ok := w.next()
		if !ok {
			return
		}
		for i := range items {
			switch {
			case items[i].retry != nil:
				ok = w.retry(items[i].retry)
			case items[i].adopt != nil:
				w.adopt(items[i].adopt)
			case w.idx < 0:
				ok = w.runLead(items[i].b, items[i].idx)
			default:
				ok = w.runChunk(items[i].b, items[i].idx)
			}
			items[i] = item{}
			if !ok {
				return
			}
		}
		w.spare = items[:0]
	}
}

func (w *worker) stopTimers() {
	for _, pk := range w.parked {
		pk.timer.Stop()
	}
}

// runChunk handles b.recs[i] for i in idx, parking keys that fail. It
// returns false if the partition stopped.
//
// The keys' strings and the handlers' contexts are allocated once for the
// chunk, not once per record.
func (w *worker) runChunk(b *batch, idx []int32) bool {
	n := 0 // handled, reported to the partition once per chunk
	start := time.Now()
	defer func() {
		w.p.handled(b, n)
		w.outstanding.Add(int64(-n))
		w.p.noteForwarded(len(idx), time.Since(start))
	}()
	keys := chunkKeys(b, idx)
	ctxs := make([]recordCtx, len(idx))
	for j, i := range idx {
		rec := b.recs[i]
		key := keys[:len(rec.Key)]
		keys = keys[len(rec.Key):]
		if len(w.parked) > 0 {
			if pk := w.parked[key]; pk != nil {
				pk.recs = append(pk.recs, recRef{b, i})
				continue
			}
		}
		if w.p.stopped.Load() {
			return false
		}
		w.load(b, rec, key)
		ctxs[j].Init(w.p.ctx, rec)
		prior := 0
		if w.p.prior != nil || w.p.careful.Load() {
			prior = w.p.priorAttempts(rec.Offset)
		}
		switch o := w.attempt(&ctxs[j], prior+1); o {
		case outcomeDone:
			b.setDone(i)
			n++
		case outcomeRetry, outcomeWait:
			w.park(key, b, i, prior, o)
		case outcomeStopped:
			return false
		}
	}
	return true
}

// adopt parks a key the lead handed over, and schedules its retry. The
// worker has no record of the key (the lead ran the failed one only
// because it had none outstanding here), so none is parked already.
func (w *worker) adopt(pk *parkedKey) {
	w.parkMu.Lock()
	w.parked[pk.key] = pk
	w.parkMu.Unlock()
	w.schedule(pk)
}

// park sets key aside after its record b.recs[i] failed (outcome o) with
// prior attempts before this one, and schedules its retry.
func (w *worker) park(key string, b *batch, i int32, prior int, o outcome) {
	pk := &parkedKey{key: key, recs: []recRef{{b, i}}, attempts: prior, ev: w.m.Event, evErr: w.decodeErr}
	w.parkMu.Lock()
	w.parked[key] = pk
	w.parkMu.Unlock()
	w.failed(pk, o)
}

// chunkKeys returns the keys of b.recs[i] for i in idx (all of b.recs if
// idx is nil), concatenated.
func chunkKeys(b *batch, idx []int32) string {
	n := 0
	if idx == nil {
		for _, rec := range b.recs {
			n += len(rec.Key)
		}
	}
	for _, i := range idx {
		n += len(b.recs[i].Key)
	}
	buf := make([]byte, 0, n)
	if idx == nil {
		for _, rec := range b.recs {
			buf = append(buf, rec.Key...)
		}
	}
	for _, i := range idx {
		buf = append(buf, b.recs[i].Key...)
	}
	return string(buf)
}

// retry takes a parked key up again: it retries the first record and, as
// long as attempts succeed, handles the key's other parked records.
func (w *worker) retry(pk *parkedKey) bool {
	for {
		if w.p.stopped.Load() {
			return false
		}
		r := pk.recs[0]
		w.m = Message{Event: pk.ev, Record: r.b.recs[r.i], Group: w.p.r.cfg.Group, HighWatermark: r.b.hwm, slab: &w.slab}
		w.decodeErr = pk.evErr
		ctx := new(recordCtx)
		ctx.Init(w.p.ctx, w.m.Record)
		switch o := w.attempt(ctx, pk.attempts+1); o {
		case outcomeRetry, outcomeWait:
			w.failed(pk, o)
			return true
		case outcomeStopped:
			return false
		}
		r.b.setDone(r.i)
		w.p.handled(r.b, 1)
		if w.idx >= 0 {
			w.outstanding.Add(-1)
		}
		pk.recs[0] = recRef{}
		pk.recs = pk.recs[1:]
		if len(pk.recs) == 0 {
			w.parkMu.Lock()
			delete(w.parked, pk.key)
			w.parkMu.Unlock()
			return true
		}
		r = pk.recs[0]
		w.load(r.b, r.b.recs[r.i], pk.key)
		pk.attempts, pk.tries, pk.ev, pk.evErr = 0, 0, w.m.Event, w.decodeErr
		if w.p.prior != nil || w.p.careful.Load() {
			pk.attempts = w.p.priorAttempts(r.b.recs[r.i].Offset)
		}
	}
}

// failed counts a failure of pk's first record (an attempt only for
// outcomeRetry) and schedules its retry.
func (w *worker) failed(pk *parkedKey, o outcome) {
	if o == outcomeRetry {
		pk.attempts++
		r := pk.recs[0]
		w.p.noteAttempts(r.b.recs[r.i].Offset, pk.attempts) // for the attempt record
	}
	pk.tries++
	pk.wait = w.wait
	w.schedule(pk)
}

// schedule queues pk for a retry after its backoff (or the wait its error
// asked for).
func (w *worker) schedule(pk *parkedKey) {
	d := pk.wait
	if d <= 0 {
		d = w.p.r.cfg.Backoff.Delay(pk.tries)
	}
	pk.timer = time.AfterFunc(d, func() { w.push(item{retry: pk}) })
}

// load sets up w.m for rec's first attempt, decoding its event (once).
//
// For a record that is not an event (no headers, or only others, such as
// a traceparent) whose predecessor left w.m as load sets it for such a
// record (the usual case), load writes only the fields that differ:
// resetting the whole Message costs a write barrier per pointer field
// while the GC marks, which is much of the time under load.
func (w *worker) load(b *batch, rec *kgo.Record, key string) {
	m := &w.m
	if w.decodeErr == nil && !mayBeEvent(rec.Headers) && m.plain(w.p.r.cfg.Group) {
		m.Event.Key, m.Event.Data = key, rec.Value
		m.Record, m.Attempt, m.HighWatermark = rec, 0, b.hwm
		return
	}
	*m = Message{Record: rec, Group: w.p.r.cfg.Group, HighWatermark: b.hwm, slab: &w.slab}
	w.decodeErr = decodeEvent(&m.Event, rec, key)
}

// plain reports whether m differs from a Message load sets for a record
// that is not an event only in the fields load sets for one (Event.Key and
// Data, Record, Attempt, HighWatermark). It only reads.
func (m *Message) plain(group string) bool {
	e := &m.Event
	return m.Group == group && m.slab != nil && e.ID == "" && e.Source == "" && e.Type == "" &&
		e.SpecVersion == "" && e.Time == (time.Time{}) && e.Subject == "" &&
		e.DataContentType == "" && e.DataSchema == "" && e.CorrelationID == "" &&
		e.CausationID == "" && e.SchemaVersion == "" && e.Extensions == nil
}

// decodeEvent reads rec's event into the zero e; a record that is not a
// CloudEvent gives an event of only its key and data. key is rec.Key.
func decodeEvent(e *event.Event, rec *kgo.Record, key string) error {
	if mayBeEvent(rec.Headers) {
		var err error
		if *e, err = event.FromRecord(rec); !errors.Is(err, event.ErrNotEvent) {
			return err
		}
		*e = event.Event{}
	}
	e.Key, e.Data = key, rec.Value
	return nil
}

// mayBeEvent reports whether a record with headers hs may be a CloudEvent:
// whether it has a header event.FromRecord looks at to tell (without it,
// FromRecord returns event.ErrNotEvent). It looks only at the keys, so a
// record it lets through is decoded only when it may be one.
func mayBeEvent(hs []kgo.RecordHeader) bool {
	for i := range hs {
		switch hs[i].Key {
		case event.HeaderContentType, event.HeaderSpecVersion, event.HeaderID:
			return true
		}
	}
	return false
}

// attempt runs the handler on w.m as attempt n and says what comes next;
// it dead-letters the record after the last attempt.
func (w *worker) attempt(ctx context.Context, n int) outcome {
	m := &w.m
	m.Attempt = n
	m.outcome = Handled
	w.wait = 0
	if n > w.p.r.cfg.MaxAttempts {
		// Earlier owners used the attempts up, and never saw the last end.
		m.Attempt = n - 1
		if w.p.deadLetter(m, errInterrupted) {
			return outcomeDone
		}
		return outcomeStopped
	}
	if w.p.suspect(m.Record.Offset) {
		// Committed before it begins: if it crashes the process, the next
		// owner knows.
		w.p.noteAttempts(m.Record.Offset, n)
		if !w.p.r.commitNow(w.p) {
			w.p.noteAttempts(m.Record.Offset, n-1)
			if w.p.ctx.Err() != nil {
				return outcomeStopped
			}
			return outcomeWait // not begun; again after the backoff
		}
	}
	err := Permanent(w.decodeErr)
	if err == nil {
		err = w.call(ctx, m)
	}
	switch {
	case err == nil:
		return outcomeDone
	case w.p.ctx.Err() != nil:
		w.uncount(n) // cancelled by us: not the handler's failure
		return outcomeStopped
	case IsTransient(err):
		w.uncount(n)
		w.wait = retryAfter(err)
		return outcomeWait
	case IsPermanent(err) || n >= w.p.r.cfg.MaxAttempts:
		if w.p.deadLetter(m, err) {
			return outcomeDone
		}
		return outcomeStopped
	}
	return outcomeRetry
}

// uncount takes back the attempt n recorded before it began, for a
// suspect record (see attempt), as it did not count.
func (w *worker) uncount(n int) {
	if off := w.m.Record.Offset; w.p.suspect(off) {
		w.p.noteAttempts(off, n-1)
	}
}

// call runs the handler once, turning a panic into a *PanicError. ctx is
// a *recordCtx: it carries the record's event, decoded again
// only if the handler asks for it (to publish a caused event).
func (w *worker) call(ctx context.Context, m *Message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return w.p.handler(ctx, m)
}

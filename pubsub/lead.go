package pubsub

import (
	"sync"
	"sync/atomic"
	"time"
)

// The lead: each partition's batches go to one goroutine, the lead, which
// takes their records in offset order and, for each, either runs it
// itself (inline) or forwards it to the worker of its key's hash, which
// runs it concurrently with the other workers.
//
// Inline costs the least per record: one goroutine reads the records in
// the order they lie in memory, as a plain consume loop does, where
// sixteen workers each picking every sixteenth record miss the cache on
// nearly every one. Forwarding lets handlers that wait (on a database, a
// remote call) run sixteen at a time. So the lead runs records inline
// while handlers are fast, and forwards them while they are slow:
//
//   - inline → forwarding: when two groups of 64 records in a row ran
//     inline took more than inlineMax per record, or when one handler call
//     has not returned for stuckAfter (the watchdog below);
//   - forwarding → inline: when of at least 1024 records, 7 in 8 were
//     handled by the workers in chunks that took less than inlineMax/2
//     per record.
//
// The times are wall-clock times, which include the time a goroutine
// waits for a CPU; hence the rules ask for more than one slow group, and
// for most chunks fast rather than the average, so that a goroutine
// descheduled now and then does not flip the mode.
//
// Per-key order holds whatever the mode, by one rule: the lead runs a
// record inline only if its key's worker has no forwarded record
// outstanding (worker.outstanding), and the key is not parked at the lead.
// A key's earlier records were then all handled (inline ones are, as the
// lead runs one at a time; forwarded ones are, as none is outstanding);
// and once one of its records is forwarded, its later ones are forwarded
// too until the worker has handled them all, so they queue behind it.
//
// A key whose record fails inline is handed over to its worker, parked
// there (handOver), and the worker runs its retries, so that a retry that
// blocks holds back only that worker's keys, as it did before the lead;
// the key's later records follow it, as the failed one counts as
// outstanding there until its retry succeeds. (Only a careful lead, which
// runs the suspects of an unclean stop one at a time, parks keys itself.)
//
// The watchdog keeps a handler that blocks from holding back the other
// keys of the partition, as it would if the lead simply ran everything:
// a timer per chunk checks every stuckAfter whether the lead is still in
// the same handler call, and if so takes the rest of the chunk from it:
// records of keys the lead owns (the blocked record's key and the keys
// parked at the lead) are given back to the lead, to run after the call
// returns, and the others are forwarded. The lead flushes its forwards
// before every handler call, so that the watchdog's forwards queue behind
// them.
const (
	inlineMax  = 5 * time.Microsecond
	stuckAfter = 10 * time.Millisecond
	// inlineGroup is how many inline records the lead times at once (one
	// clock read per group).
	inlineGroup = 64
	// fwdSample is how many forwarded records the lead looks at.
	fwdSample = 1024
)

// leadState is the lead's own state, owned by its goroutine.
type leadState struct {
	forwarding bool      // records go to the workers; else inline (see above)
	group      int       // inline records since groupStart
	groupStart time.Time // when the group began
	slow       bool      // the last group was slow
	fwd        [][]int32 // by worker: forwarded indexes not pushed yet
	nfwd       int       // sum of len(fwd[i])
	fwdB       *batch    // the batch of fwd's indexes
}

func (l *leadState) init(workers int) { l.fwd = make([][]int32, workers) }

// Lead chunk states, for the watchdog: the low two bits of
// leadChunk.state.
const (
	chunkRunning int64 = iota // the lead is not in a handler call
	chunkInCall               // the lead is in a handler call, its forwards flushed
	chunkTaken                // the watchdog took the rest of the chunk
)

// leadChunk is a chunk the lead works on: b.recs[i] for i in idx (all if
// idx is nil), and what the watchdog needs to take it over.
type leadChunk struct {
	w   *worker
	b   *batch
	idx []int32
	n   int

	// state is pos<<2 | chunkRunning, chunkInCall or chunkTaken, where
	// pos is the position (in idx) of the record the lead is on: one
	// word, so that a call costs the lead two atomic operations.
	state atomic.Int64

	// takeMu is held by the watchdog while it checks and takes the chunk
	// over, so that the lead, which finds the chunk taken when its call
	// returns, waits for giveBack.
	takeMu   sync.Mutex
	giveBack []int32     // the records of keys the lead owns, after a takeover
	timer    *time.Timer // the watchdog's; guarded by takeMu
	lastPos  int64       // the position at the watchdog's last check; guarded by takeMu
	done     bool        // the lead is done with the chunk; guarded by takeMu
}

func (c *leadChunk) rec(j int) int32 {
	if c.idx == nil {
		return int32(j)
	}
	return c.idx[j]
}

// noteForwarded counts a worker's chunk of n forwarded records, which
// took d, for the lead (see maybeInline).
func (p *partition) noteForwarded(n int, d time.Duration) {
	if n > 0 {
		if d < time.Duration(n)*p.inlineMax/2 {
			p.fwdFast.Add(int64(n))
		}
		p.fwdRecs.Add(int64(n))
	}
}

// runLead handles the chunk b.recs[i] for i in idx (all of b if idx is
// nil) at the lead, and then the records a takeover gave back. It returns
// false if the partition stopped.
func (w *worker) runLead(b *batch, idx []int32) bool {
	for {
		c := &leadChunk{w: w, b: b, idx: idx, n: len(idx), lastPos: -1}
		if idx == nil {
			c.n = len(b.recs)
		}
		ok, taken := w.leadChunk(c)
		if !ok {
			return false
		}
		if !taken {
			return true
		}
		w.lead.forwarding = true
		c.takeMu.Lock()
		idx = c.giveBack
		c.takeMu.Unlock()
		if len(idx) == 0 {
			return true
		}
	}
}

// leadChunk runs or forwards c's records in order. It reports false if
// the partition stopped, and taken if the watchdog took the rest of the
// chunk.
func (w *worker) leadChunk(c *leadChunk) (ok, taken bool) {
	p, b, l := w.p, c.b, &w.lead
	n := 0 // handled inline, reported to the partition once per chunk
	defer func() {
		w.flush()
		p.handled(b, n)
	}()
	careful := p.careful.Load() // the lead runs every record itself
	if !careful {
		c.takeMu.Lock()
		c.timer = time.AfterFunc(stuckAfter, c.check)
		c.takeMu.Unlock()
		defer func() {
			c.takeMu.Lock()
			c.done = true
			c.timer.Stop()
			c.takeMu.Unlock()
		}()
	}
	w.maybeInline()
	l.group, l.groupStart, l.slow = 0, time.Now(), false
	keys := chunkKeys(b, c.idx)
	ctxs := make([]recordCtx, c.n)
	nw := uint64(len(p.workers))
	for j := range c.n {
		i := c.rec(j)
		rec := b.recs[i]
		key := keys[:len(rec.Key)]
		keys = keys[len(rec.Key):]
		if len(w.parked) > 0 {
			if pk := w.parked[key]; pk != nil {
				pk.recs = append(pk.recs, recRef{b, i})
				continue
			}
		}
		if p.stopped.Load() {
			return false, false
		}
		if !careful {
			if to := p.workers[keyHash(rec.Key)%nw]; l.forwarding || to.outstanding.Load() > 0 {
				w.forward(to, b, i)
				continue
			}
		}
		w.flush() // before a call that may block: see the watchdog
		w.load(b, rec, key)
		ctxs[j].Init(p.ctx, rec)
		prior := 0
		if p.prior != nil || careful {
			prior = p.priorAttempts(rec.Offset)
		}
		at := int64(j) << 2 // the state word at j, chunkRunning (0)
		c.state.Store(at | chunkInCall)
		o := w.attempt(&ctxs[j], prior+1)
		taken = !c.state.CompareAndSwap(at|chunkInCall, at)
		switch o {
		case outcomeDone:
			b.setDone(i)
			n++
		case outcomeRetry, outcomeWait:
			if careful {
				w.park(key, b, i, prior, o)
			} else {
				w.handOver(p.workers[keyHash(rec.Key)%nw], key, b, i, prior, o)
			}
		case outcomeStopped:
			return false, taken
		}
		if taken {
			return true, true
		}
		if l.group++; l.group == inlineGroup {
			now := time.Now()
			took := now.Sub(l.groupStart)
			slow := took > inlineGroup*p.inlineMax
			if slow && l.slow {
				l.forwarding = true
			}
			l.group, l.groupStart, l.slow = 0, now, slow
		}
	}
	return true, false
}

// handOver parks key at worker to after its record b.recs[i] failed
// (outcome o) inline with prior attempts before this one: the worker runs
// its retries, so that a retry that blocks holds back only that worker's
// keys, not the lead. The key's later records follow it there, as the
// record counts as outstanding at the worker until its retry succeeds. (A
// careful lead keeps its parked keys: suspects run on the lead alone.)
func (w *worker) handOver(to *worker, key string, b *batch, i int32, prior int, o outcome) {
	pk := &parkedKey{key: key, recs: []recRef{{b, i}}, attempts: prior, ev: w.m.Event, evErr: w.decodeErr}
	if o == outcomeRetry {
		pk.attempts++
		w.p.noteAttempts(b.recs[i].Offset, pk.attempts) // for the attempt record
	}
	pk.tries++
	pk.wait = w.wait
	to.outstanding.Add(1)
	to.push(item{adopt: pk})
}

// maybeInline switches the lead from forwarding to inline if the workers
// have been fast (see above).
func (w *worker) maybeInline() {
	p, l := w.p, &w.lead
	if !l.forwarding {
		return
	}
	recs := p.fwdRecs.Load()
	if recs < fwdSample {
		return
	}
	fast := p.fwdFast.Load()
	p.fwdRecs.Add(-recs)
	p.fwdFast.Add(-fast)
	if fast >= recs-recs/8 {
		l.forwarding = false
	}
}

// forward queues b.recs[i] for worker to; flush sends it.
func (w *worker) forward(to *worker, b *batch, i int32) {
	l := &w.lead
	to.outstanding.Add(1)
	l.fwd[to.idx] = append(l.fwd[to.idx], i)
	l.nfwd++
	l.fwdB = b
}

// flush sends the forwarded records to their workers.
func (w *worker) flush() {
	l := &w.lead
	if l.nfwd == 0 {
		return
	}
	all := make([]int32, 0, l.nfwd) // the workers' chunks, one allocation
	for to, idx := range l.fwd {
		if len(idx) == 0 {
			continue
		}
		from := len(all)
		all = append(all, idx...)
		w.p.workers[to].push(item{b: l.fwdB, idx: all[from:len(all):len(all)]})
		l.fwd[to] = idx[:0]
	}
	l.nfwd, l.fwdB = 0, nil
}

// check is the watchdog: it runs every stuckAfter while the lead works on
// c, and takes the rest of c over if the lead has been in one handler call
// since the last check.
func (c *leadChunk) check() {
	c.takeMu.Lock()
	defer c.takeMu.Unlock()
	if c.done {
		return
	}
	st := c.state.Load()
	pos := st >> 2
	if st&3 != chunkInCall || pos != c.lastPos {
		c.lastPos = pos
		c.timer.Reset(stuckAfter)
		return
	}
	if !c.state.CompareAndSwap(st, pos<<2|chunkTaken) {
		c.timer.Reset(stuckAfter) // the call returned meanwhile
		return
	}
	// The lead is in the call of the record at pos, with nothing left to
	// flush, and takes nothing more from c: the rest is ours.
	w, b := c.w, c.b
	owned := map[string]bool{string(b.recs[c.rec(int(pos))].Key): true}
	w.parkMu.Lock()
	for k := range w.parked {
		owned[k] = true
	}
	w.parkMu.Unlock()
	p := w.p
	nw := uint64(len(p.workers))
	fwd := make([][]int32, len(p.workers))
	for j := int(pos) + 1; j < c.n; j++ {
		i := c.rec(j)
		key := b.recs[i].Key
		if owned[string(key)] {
			c.giveBack = append(c.giveBack, i)
			continue
		}
		to := keyHash(key) % nw
		fwd[to] = append(fwd[to], i)
	}
	for to, idx := range fwd {
		if len(idx) > 0 {
			p.workers[to].outstanding.Add(int64(len(idx)))
			p.workers[to].push(item{b: b, idx: idx})
		}
	}
}

package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Sliding windows (Kafka Streams' SlidingWindows): windows of a fixed
// size d, [start, start+d] with both ends included, that exist only where
// records make them differ. For every record at t of a key there is its
// left window [t-d, t], and, if the key has a record in (t, t+1+d], its
// right window [t+1, t+1+d]. A window's value folds every record of its
// key in it; a record updates every window that contains it, and creates
// the windows it defines.
//
// With stream time T and grace g, a window [s, e] is open while
// e >= T-g; a closed window is never updated again (emitted with
// EmitOnClose, then deleted). A record at t with t+d+1 < T-g is late: no
// window that holds it, nor its right window, can be open. Starts may be negative (a record
// at t < d); Kafka Streams clamps those to [0, d] instead.
func Sliding(size time.Duration) Windows {
	return Windows{size: size.Milliseconds(), advance: size.Milliseconds(), sliding: true}
}

// A sliding window store's keys (part of the format; do not change):
//
//	'k' <key>         -> the key's state: its records still needed and its open windows
//	'd' due(8) <key>  -> empty: the key's state has something that expires
//	                     once stream time minus grace passes due
//
// The state is
//
//	n(4) { ts(8) len(4) value }*   records, by timestamp (then arrival)
//	m(4) { start(8) len(4) agg }*  open windows, by start
//
// all big endian; values encoded with the Grouped value codec, aggregates
// with the aggregate codec.
func slidingStateKey(kb []byte) []byte { return append([]byte{'k'}, kb...) }

func slidingDueKey(due int64, kb []byte) []byte {
	return append(binary.BigEndian.AppendUint64([]byte{'d'}, uint64(due)), kb...)
}

type slidingRecord struct {
	ts int64
	v  []byte
}

type slidingWindow struct {
	start int64
	agg   []byte
}

// slidingState is one key's records and open windows.
type slidingState struct {
	recs []slidingRecord // by ts, stable
	wins []slidingWindow // by start
}

func (st *slidingState) encode() []byte {
	n := 8
	for _, r := range st.recs {
		n += 12 + len(r.v)
	}
	for _, w := range st.wins {
		n += 12 + len(w.agg)
	}
	b := make([]byte, 0, n)
	b = binary.BigEndian.AppendUint32(b, uint32(len(st.recs)))
	for _, r := range st.recs {
		b = binary.BigEndian.AppendUint64(b, uint64(r.ts))
		b = binary.BigEndian.AppendUint32(b, uint32(len(r.v)))
		b = append(b, r.v...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(st.wins)))
	for _, w := range st.wins {
		b = binary.BigEndian.AppendUint64(b, uint64(w.start))
		b = binary.BigEndian.AppendUint32(b, uint32(len(w.agg)))
		b = append(b, w.agg...)
	}
	return b
}

var errSlidingState = errors.New("sliding window state is truncated")

// decodeSlidingState parses encode's output; the slices point into b.
func decodeSlidingState(b []byte) (slidingState, error) {
	var st slidingState
	entries := func() ([]slidingRecord, error) {
		if len(b) < 4 {
			return nil, errSlidingState
		}
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		out := make([]slidingRecord, 0, min(n, uint32(len(b)/12)))
		for range n {
			if len(b) < 12 {
				return nil, errSlidingState
			}
			ts, l := int64(binary.BigEndian.Uint64(b)), binary.BigEndian.Uint32(b[8:])
			b = b[12:]
			if uint64(len(b)) < uint64(l) {
				return nil, errSlidingState
			}
			out = append(out, slidingRecord{ts, b[:l:l]})
			b = b[l:]
		}
		return out, nil
	}
	var err error
	if st.recs, err = entries(); err != nil {
		return st, err
	}
	wins, err := entries()
	if err != nil {
		return st, err
	}
	for _, w := range wins {
		st.wins = append(st.wins, slidingWindow{start: w.ts, agg: w.v})
	}
	return st, nil
}

// due is when (stream time minus grace passing it) the state next
// changes by itself: its first window closes or its first record is no
// longer needed. ok is false for an empty state.
func (st *slidingState) due(d int64) (int64, bool) {
	due, ok := int64(1<<62), false
	if len(st.recs) > 0 {
		due, ok = st.recs[0].ts+d+1, true
	}
	if len(st.wins) > 0 {
		due, ok = min(due, st.wins[0].start+d), true
	}
	return due, ok
}

// prune removes the windows closed at closeTime (returned, by start) and
// the records no open window can take any more.
func (st *slidingState) prune(d, closeTime int64) []slidingWindow {
	i := 0
	for i < len(st.wins) && st.wins[i].start+d < closeTime {
		i++
	}
	closed := st.wins[:i:i]
	st.wins = st.wins[i:]
	j := 0
	for j < len(st.recs) && st.recs[j].ts+d+1 < closeTime {
		j++
	}
	st.recs = st.recs[j:]
	return closed
}

func slidingAggregate[K, V, A any](g Grouped[K, V], w Windows, store string, ac Codec[A],
	init func() A, add func(k K, v V, agg A) A) Stream[Windowed[K], A] {
	t := g.s.p.t
	n := t.addNode("slidingAggregate", g.s.p.n)
	t.addStore(store, n)
	t.setQuery(store, windowQuery(g.kc, ac, w))
	if err := w.validate(); err != nil {
		t.fail(fmt.Errorf("%s: %w", n.name(), err))
	}
	p := newPort[Windowed[K], A](t, n)
	g.s.p.connect(func(tk *task) (emitFn[K, V], error) {
		s, err := tk.store(store)
		if err != nil {
			return nil, err
		}
		next, err := p.build(tk)
		if err != nil {
			return nil, err
		}
		sa := &slidingAgg[K, V, A]{tk: tk, s: s, d: w.size, grace: w.grace, onClose: w.onClose,
			kc: g.kc, vc: g.vc, ac: ac, init: init, add: add, next: next, minDue: -1}
		return sa.process, nil
	})
	return Stream[Windowed[K], A]{p: p}
}

// slidingAgg is one task's sliding window aggregation.
type slidingAgg[K, V, A any] struct {
	tk       *task
	s        *kvStore
	d, grace int64
	onClose  bool
	kc       Codec[K]
	vc       Codec[V]
	ac       Codec[A]
	init     func() A
	add      func(K, V, A) A
	next     emitFn[Windowed[K], A]
	// minDue is the lowest due of any key (expire has nothing to do before
	// close time passes it); -1: unknown, scan.
	minDue int64
}

func (sa *slidingAgg[K, V, A]) closeTime() int64 { return sa.tk.streamTime - sa.grace }

func (sa *slidingAgg[K, V, A]) process(k K, v V, ts int64) error {
	if ts < 0 || ts+sa.d+1 < sa.closeTime() {
		sa.tk.metrics.late.Add(1)
		return sa.expire()
	}
	kb, err := sa.kc.Encode(k)
	if err != nil {
		return fmt.Errorf("store %s: key: %w", sa.s.name, err)
	}
	vb, err := sa.vc.Encode(v)
	if err != nil {
		return fmt.Errorf("store %s: value: %w", sa.s.name, err)
	}
	st, oldDue, err := sa.load(kb)
	if err != nil {
		return err
	}
	if err := sa.emitClosed(k, st.prune(sa.d, sa.closeTime())); err != nil {
		return err
	}
	at, _ := slices.BinarySearchFunc(st.recs, ts+1, func(r slidingRecord, t int64) int { return cmpInt(r.ts, t) })
	st.recs = slices.Insert(st.recs, at, slidingRecord{ts, vb})
	updated, err := sa.updateWindows(&st, k, v, ts, at)
	if err != nil {
		return err
	}
	if err := sa.save(kb, &st, oldDue); err != nil {
		return err
	}
	if !sa.onClose {
		for _, w := range updated {
			if err := sa.emit(k, w, ts); err != nil {
				return err
			}
		}
	}
	return sa.expire()
}

// updateWindows adds the record at st.recs[at] (timestamp ts) to the open
// windows that hold it and creates the windows it defines: its left
// window, its right window if a later record is within d, and its
// predecessor's right window if that now holds a record. It returns the
// windows it changed, by start.
func (sa *slidingAgg[K, V, A]) updateWindows(st *slidingState, k K, v V, ts int64, at int) ([]slidingWindow, error) {
	closeTime := sa.closeTime()
	var changed []int64
	for i, w := range st.wins {
		if w.start > ts || w.start+sa.d < ts {
			continue
		}
		agg, err := sa.ac.Decode(w.agg)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", sa.s.name, err)
		}
		if st.wins[i].agg, err = sa.ac.Encode(sa.add(k, v, agg)); err != nil {
			return nil, fmt.Errorf("store %s: value: %w", sa.s.name, err)
		}
		changed = append(changed, w.start)
	}
	starts := []int64{ts - sa.d}
	if at+1 < len(st.recs) && st.recs[at+1].ts <= ts+1+sa.d {
		starts = append(starts, ts+1)
	}
	if p := sa.predecessor(st, at); p >= 0 && ts <= st.recs[p].ts+1+sa.d {
		starts = append(starts, st.recs[p].ts+1)
	}
	for _, s := range starts {
		i, found := slices.BinarySearchFunc(st.wins, s, func(w slidingWindow, s int64) int { return cmpInt(w.start, s) })
		if found || s+sa.d < closeTime {
			continue
		}
		agg, err := sa.fold(k, st.recs, s)
		if err != nil {
			return nil, err
		}
		st.wins = slices.Insert(st.wins, i, slidingWindow{start: s, agg: agg})
		changed = append(changed, s)
	}
	slices.Sort(changed)
	out := make([]slidingWindow, len(changed))
	for i, s := range changed {
		j, _ := slices.BinarySearchFunc(st.wins, s, func(w slidingWindow, s int64) int { return cmpInt(w.start, s) })
		out[i] = st.wins[j]
	}
	return out, nil
}

// predecessor is the index of the last record before recs[at] with an
// earlier timestamp, or -1.
func (sa *slidingAgg[K, V, A]) predecessor(st *slidingState, at int) int {
	for p := at - 1; p >= 0; p-- {
		if st.recs[p].ts < st.recs[at].ts {
			return p
		}
	}
	return -1
}

// fold aggregates the records in [start, start+d] into a new window.
func (sa *slidingAgg[K, V, A]) fold(k K, recs []slidingRecord, start int64) ([]byte, error) {
	agg := sa.init()
	for _, r := range recs {
		if r.ts < start || r.ts > start+sa.d {
			continue
		}
		v, err := sa.vc.Decode(r.v)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", sa.s.name, err)
		}
		agg = sa.add(k, v, agg)
	}
	b, err := sa.ac.Encode(agg)
	if err != nil {
		return nil, fmt.Errorf("store %s: value: %w", sa.s.name, err)
	}
	return b, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// load reads kb's state and its due (-1: none).
func (sa *slidingAgg[K, V, A]) load(kb []byte) (slidingState, int64, error) {
	b, ok, err := sa.s.get(slidingStateKey(kb))
	if err != nil || !ok {
		return slidingState{}, -1, err
	}
	st, err := decodeSlidingState(b)
	if err != nil {
		return st, -1, fmt.Errorf("store %s: %w", sa.s.name, err)
	}
	due, _ := st.due(sa.d)
	return st, due, nil
}

// save writes kb's state (deletes it when empty) and moves its due entry.
func (sa *slidingAgg[K, V, A]) save(kb []byte, st *slidingState, oldDue int64) error {
	due, ok := st.due(sa.d)
	if oldDue >= 0 && (!ok || due != oldDue) {
		sa.s.delete(slidingDueKey(oldDue, kb))
	}
	if !ok {
		sa.s.delete(slidingStateKey(kb))
		return nil
	}
	sa.s.put(slidingStateKey(kb), st.encode())
	if due != oldDue {
		sa.s.put(slidingDueKey(due, kb), []byte{})
	}
	if sa.minDue >= 0 {
		sa.minDue = min(sa.minDue, due)
	}
	return nil
}

// expire prunes every key whose due close time has passed: closed
// windows emitted (EmitOnClose) and deleted, old records dropped.
func (sa *slidingAgg[K, V, A]) expire() error {
	closeTime := sa.closeTime()
	if sa.minDue >= 0 && sa.minDue >= closeTime {
		return nil
	}
	var keys [][]byte
	sa.minDue = 1 << 62
	stop := errors.New("stop")
	err := sa.s.scan([]byte{'d'}, []byte{'e'}, func(dk, _ []byte) error {
		if due := int64(binary.BigEndian.Uint64(dk[1:9])); due >= closeTime {
			sa.minDue = due
			return stop
		}
		keys = append(keys, bytesCopy(dk[9:]))
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return err
	}
	for _, kb := range keys {
		if err := sa.expireKey(kb, closeTime); err != nil {
			return err
		}
	}
	return nil
}

func (sa *slidingAgg[K, V, A]) expireKey(kb []byte, closeTime int64) error {
	st, oldDue, err := sa.load(kb)
	if err != nil {
		return err
	}
	closed := st.prune(sa.d, closeTime)
	if err := sa.save(kb, &st, oldDue); err != nil {
		return err
	}
	if len(closed) == 0 {
		return nil
	}
	k, err := sa.kc.Decode(kb)
	if err != nil {
		return fmt.Errorf("store %s: stored key: %w", sa.s.name, err)
	}
	return sa.emitClosed(k, closed)
}

// emitClosed emits closed windows with EmitOnClose, at their end.
func (sa *slidingAgg[K, V, A]) emitClosed(k K, closed []slidingWindow) error {
	if !sa.onClose {
		return nil
	}
	for _, w := range closed {
		if err := sa.emit(k, w, w.start+sa.d); err != nil {
			return err
		}
	}
	return nil
}

func (sa *slidingAgg[K, V, A]) emit(k K, w slidingWindow, ts int64) error {
	agg, err := sa.ac.Decode(w.agg)
	if err != nil {
		return fmt.Errorf("store %s: %w", sa.s.name, err)
	}
	return sa.next(Windowed[K]{Key: k, Start: time.UnixMilli(w.start), End: time.UnixMilli(w.start + sa.d)}, agg, ts)
}

// fetchSliding reads kb's open windows that start in [from, to).
func fetchSliding[A any](s *kvStore, kb []byte, ac Codec[A], size, from, to int64) ([]WindowResult[A], error) {
	b, ok, err := s.get(slidingStateKey(kb))
	if err != nil || !ok {
		return nil, err
	}
	st, err := decodeSlidingState(b)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.name, err)
	}
	var out []WindowResult[A]
	for _, w := range st.wins {
		if w.start < from || w.start >= to {
			continue
		}
		v, err := ac.Decode(w.agg)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", s.name, err)
		}
		out = append(out, WindowResult[A]{Start: time.UnixMilli(w.start), End: time.UnixMilli(w.start + size), Value: v})
	}
	return out, nil
}

package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Windows says how records are grouped by event time (their timestamps):
// tumbling, hopping or sliding windows, how long a window waits for late records
// (grace), and when its result is emitted.
//
// A task's stream time is the highest record timestamp it has seen (the
// watermark). A window [start, end) closes when stream time reaches
// end+grace; a record that arrives for a closed window is dropped and
// counted (TaskMetrics.Late counts records none of whose windows was
// open).
type Windows struct {
	size, advance, grace int64 // ms
	onClose              bool
	sliding              bool // Sliding: advance is unused
}

// Tumbling windows are of size, back to back: [0, size), [size, 2*size), ...
// (Unix epoch aligned).
func Tumbling(size time.Duration) Windows {
	return Windows{size: size.Milliseconds(), advance: size.Milliseconds()}
}

// Hopping windows are of size and start every advance, so they overlap
// when advance < size; a record is in every window that covers it.
func Hopping(size, advance time.Duration) Windows {
	return Windows{size: size.Milliseconds(), advance: advance.Milliseconds()}
}

// Grace is how long after a window's end it still takes late records
// (0 by default).
func (w Windows) Grace(d time.Duration) Windows { w.grace = d.Milliseconds(); return w }

// EmitOnClose emits each window's result once, when it closes, instead
// of on every update (the default).
func (w Windows) EmitOnClose() Windows { w.onClose = true; return w }

func (w Windows) validate() error {
	var errs []error
	if w.size <= 0 {
		errs = append(errs, fmt.Errorf("window size %dms is not positive", w.size))
	}
	if w.advance <= 0 || w.advance > w.size {
		errs = append(errs, fmt.Errorf("window advance %dms is not in (0, size]", w.advance))
	}
	if w.grace < 0 {
		errs = append(errs, fmt.Errorf("window grace %dms is negative", w.grace))
	}
	return errors.Join(errs...)
}

// starts returns the start of every window that covers ts (ts >= 0).
func (w Windows) starts(ts int64, buf []int64) []int64 {
	buf = buf[:0]
	last := ts - ts%w.advance
	for s := last; s > ts-w.size && s >= 0; s -= w.advance {
		buf = append(buf, s)
	}
	return buf
}

// Windowed is a key and the window its value is for.
type Windowed[K any] struct {
	Key        K
	Start, End time.Time
}

// WindowedCodec encodes a Windowed key as the key's bytes (kc) followed
// by start and end, each 8 bytes, big-endian Unix milliseconds.
func WindowedCodec[K any](kc Codec[K]) Codec[Windowed[K]] { return windowedCodec[K]{kc} }

type windowedCodec[K any] struct{ kc Codec[K] }

func (c windowedCodec[K]) Encode(w Windowed[K]) ([]byte, error) {
	b, err := c.kc.Encode(w.Key)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint64(b, uint64(w.Start.UnixMilli()))
	return binary.BigEndian.AppendUint64(b, uint64(w.End.UnixMilli())), nil
}

func (c windowedCodec[K]) Decode(b []byte) (Windowed[K], error) {
	var w Windowed[K]
	if len(b) < 16 {
		return w, fmt.Errorf("windowed key: %d bytes, want at least 16", len(b))
	}
	k, err := c.kc.Decode(b[:len(b)-16])
	if err != nil {
		return w, err
	}
	w.Key = k
	w.Start = time.UnixMilli(int64(binary.BigEndian.Uint64(b[len(b)-16:])))
	w.End = time.UnixMilli(int64(binary.BigEndian.Uint64(b[len(b)-8:])))
	return w, nil
}

// windowChangelogRetention is kept in a tumbling or hopping window
// store's changelog past a window's size and grace (cleanup.policy
// compact,delete, retention.ms the sum), as Kafka Streams' windowstore
// changelog additional retention: closed windows leave the changelog by
// retention, not by tombstones, halving its records.
const windowChangelogRetention = int64(24 * time.Hour / time.Millisecond)

// A window store's keys (in its kvStore and changelog; part of the
// format, do not change):
//
//	'w' start(8, big endian) key   -> the window's aggregate
//	'c'                            -> closed(8): every window starting at or
//	                                  before it is closed (and deleted)
var closedKey = []byte{'c'}

func windowKey(start int64, kb []byte) []byte {
	return appendWindowKey(make([]byte, 0, 9+len(kb)), start, kb)
}

func appendWindowKey(b []byte, start int64, kb []byte) []byte {
	b = append(b, 'w')
	b = binary.BigEndian.AppendUint64(b, uint64(start))
	return append(b, kb...)
}

// WindowedAggregate folds each key's records per window into a value of
// type A, kept in the store named store: init gives a window's first
// value, add folds one record in. It returns the stream of results: every
// update, or with EmitOnClose each window's final value once.
func WindowedAggregate[K, V, A any](g Grouped[K, V], w Windows, store string, ac Codec[A],
	init func() A, add func(k K, v V, agg A) A) Stream[Windowed[K], A] {
	if w.sliding {
		return slidingAggregate(g, w, store, ac, init, add)
	}
	t := g.s.p.t
	n := t.addNode("windowedAggregate", g.s.p.n)
	t.addStore(store, n)
	t.setQuery(store, windowQuery(g.kc, ac, w))
	if sd := t.stores[store]; sd != nil {
		sd.retention = w.size + w.grace + windowChangelogRetention
	}
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
		wa := &windowAgg[K, V, A]{tk: tk, s: s, w: w, kc: g.kc, ac: ac, init: init, add: add, next: next, closed: -1}
		tk.onStart(wa.loadClosed)
		return wa.process, nil
	})
	return Stream[Windowed[K], A]{p: p}
}

// WindowedCount counts each key's records per window.
func WindowedCount[K, V any](g Grouped[K, V], w Windows, store string) Stream[Windowed[K], int64] {
	return WindowedAggregate(g, w, store, Int64(), func() int64 { return 0 }, func(_ K, _ V, n int64) int64 { return n + 1 })
}

// windowAgg is one task's windowed aggregation.
type windowAgg[K, V, A any] struct {
	tk   *task
	s    *kvStore
	w    Windows
	kc   Codec[K]
	ac   Codec[A]
	init func() A
	add  func(K, V, A) A
	next emitFn[Windowed[K], A]
	// closed: every window with start <= closed is closed, emitted (with
	// EmitOnClose) and deleted. -1: none.
	closed int64
	// maxStart is the latest window start in the store: a window that
	// starts later is new, and update skips looking it up.
	maxStart int64
	starts   []int64
	// idx holds, per window start >= idxFrom, the key of every window of
	// that start in the store: update knows a window is new without a
	// lookup, and closeUpTo deletes (and emits) without a scan. Windows
	// that start before idxFrom (there at the task's start) are looked
	// up and scanned. Over idxMax keys it is dropped (idxFrom = never).
	idx     map[int64]map[string]struct{}
	idxFrom int64
	idxLen  int
	keyBuf  []byte
}

// idxMax bounds the keys a window aggregation's index holds.
const idxMax = 1 << 20

const never = int64(1) << 62

func (wa *windowAgg[K, V, A]) loadClosed() error {
	last, ok, err := wa.s.lastCommitted([]byte{'w'}, []byte{'w' + 1})
	if err != nil {
		return err
	}
	wa.maxStart = -1
	if ok && len(last) >= 9 {
		wa.maxStart = int64(binary.BigEndian.Uint64(last[1:9]))
	}
	wa.idx, wa.idxFrom = map[int64]map[string]struct{}{}, wa.maxStart+1
	b, ok, err := wa.s.get(closedKey)
	if err != nil || !ok {
		return err
	}
	if len(b) != 8 {
		return fmt.Errorf("store %s: closed mark is %d bytes", wa.s.name, len(b))
	}
	wa.closed = int64(binary.BigEndian.Uint64(b))
	// Closed windows get no tombstones: a restore brings back those the
	// changelog's retention has not dropped yet.
	if err := wa.s.deleteRangeLocal(windowKey(0, nil), windowKey(wa.closed+1, nil)); err != nil {
		return err
	}
	// Stream time is not persisted; it was at least what closed these.
	wa.tk.streamTime = max(wa.tk.streamTime, wa.closed+wa.w.size+wa.w.grace)
	return nil
}

func (wa *windowAgg[K, V, A]) process(k K, v V, ts int64) error {
	if ts < 0 {
		wa.tk.metrics.late.Add(1)
		return nil
	}
	kb, err := wa.kc.Encode(k)
	if err != nil {
		return fmt.Errorf("store %s: key: %w", wa.s.name, err)
	}
	closeTime := wa.tk.streamTime - wa.w.grace
	taken := false
	wa.starts = wa.w.starts(ts, wa.starts)
	for _, start := range wa.starts {
		if start+wa.w.size <= closeTime || start <= wa.closed {
			continue
		}
		taken = true
		if err := wa.update(k, kb, v, start, ts); err != nil {
			return err
		}
	}
	if !taken {
		wa.tk.metrics.late.Add(1)
	}
	return wa.closeUpTo(closeTime - wa.w.size)
}

func (wa *windowAgg[K, V, A]) update(k K, kb []byte, v V, start, ts int64) error {
	// The store copies keys (never values): one buffer serves every update.
	wa.keyBuf = appendWindowKey(wa.keyBuf[:0], start, kb)
	key := wa.keyBuf
	var old []byte
	var ok bool
	var err error
	if wa.mayExist(start, kb) {
		if old, ok, err = wa.s.get(key); err != nil {
			return err
		}
	}
	wa.maxStart = max(wa.maxStart, start)
	agg := wa.init()
	if ok {
		if agg, err = wa.ac.Decode(old); err != nil {
			return fmt.Errorf("store %s: %w", wa.s.name, err)
		}
	}
	agg = wa.add(k, v, agg)
	nb, err := wa.ac.Encode(agg)
	if err != nil {
		return fmt.Errorf("store %s: value: %w", wa.s.name, err)
	}
	wa.s.put(key, nb)
	if wa.w.onClose {
		return nil
	}
	return wa.next(Windowed[K]{Key: k, Start: time.UnixMilli(start), End: time.UnixMilli(start + wa.w.size)}, agg, ts)
}

// mayExist reports whether the window of kb at start may be in the
// store, and indexes it: false means it is surely not.
func (wa *windowAgg[K, V, A]) mayExist(start int64, kb []byte) bool {
	if start < wa.idxFrom {
		return start <= wa.maxStart
	}
	keys := wa.idx[start]
	if _, ok := keys[string(kb)]; ok {
		return true
	}
	if wa.idxLen >= idxMax {
		wa.idx, wa.idxFrom = nil, never // too many keys: look up and scan
		return start <= wa.maxStart
	}
	if keys == nil {
		keys = map[string]struct{}{}
		wa.idx[start] = keys
	}
	keys[string(kb)] = struct{}{}
	wa.idxLen++
	return false
}

// closeUpTo closes every window that starts at or before bound: emits
// it (EmitOnClose) and deletes it. It does nothing until bound passes a
// window start; then it takes the indexed windows' keys from the index,
// and scans the store for the others.
func (wa *windowAgg[K, V, A]) closeUpTo(bound int64) error {
	if bound < 0 {
		return nil
	}
	bound -= bound % wa.w.advance // the last window start at or before bound
	if bound <= wa.closed {
		return nil
	}
	if wa.closed+1 < wa.idxFrom {
		if err := wa.closeScanned(min(bound, wa.idxFrom-1)); err != nil {
			return err
		}
	}
	if err := wa.closeIndexed(bound); err != nil {
		return err
	}
	wa.closed = bound
	wa.s.put(closedKey, binary.BigEndian.AppendUint64(nil, uint64(bound)))
	return nil
}

// closeScanned closes the windows that start in (closed, bound] by a
// scan of the store.
func (wa *windowAgg[K, V, A]) closeScanned(bound int64) error {
	var keys [][]byte
	err := wa.s.scan(windowKey(max(wa.closed+1, 0), nil), windowKey(bound+1, nil), func(key, val []byte) error {
		keys = append(keys, bytesCopy(key))
		if !wa.w.onClose {
			return nil
		}
		return wa.emitClosed(key, val)
	})
	if err != nil {
		return err
	}
	for _, key := range keys {
		wa.s.deleteLocal(key) // the changelog's retention drops it
	}
	return nil
}

// closeIndexed closes the indexed windows that start at or before
// bound, by start and then key.
func (wa *windowAgg[K, V, A]) closeIndexed(bound int64) error {
	var starts []int64
	for start := range wa.idx {
		if start <= bound {
			starts = append(starts, start)
		}
	}
	slices.Sort(starts)
	for _, start := range starts {
		keys := slices.Sorted(maps.Keys(wa.idx[start]))
		for _, k := range keys {
			key := windowKey(start, []byte(k))
			if wa.w.onClose {
				val, ok, err := wa.s.get(key)
				if err != nil {
					return err
				}
				if ok {
					if err := wa.emitClosed(key, val); err != nil {
						return err
					}
				}
			}
			wa.s.deleteLocal(key) // the changelog's retention drops it
		}
		wa.idxLen -= len(keys)
		delete(wa.idx, start)
	}
	return nil
}

func (wa *windowAgg[K, V, A]) emitClosed(key, val []byte) error {
	start := int64(binary.BigEndian.Uint64(key[1:9]))
	k, err := wa.kc.Decode(key[9:])
	if err != nil {
		return fmt.Errorf("store %s: key: %w", wa.s.name, err)
	}
	agg, err := wa.ac.Decode(val)
	if err != nil {
		return fmt.Errorf("store %s: %w", wa.s.name, err)
	}
	end := start + wa.w.size
	return wa.next(Windowed[K]{Key: k, Start: time.UnixMilli(start), End: time.UnixMilli(end)}, agg, end-1)
}

// WindowResult is one window's value, as FetchWindows returns it.
type WindowResult[A any] struct {
	Start, End time.Time
	Value      A
}

// FetchWindows reads key's open windows that start in [from, to) from the
// windowed store named store (of WindowedAggregate or WindowedCount) on
// a, if a runs the task that owns key (ErrNotLocal if not). Closed
// windows are deleted from the store when they close, so only windows
// still open (or in grace) are there. size is the windows' size (a
// sliding window's End is Start+size, included).
func FetchWindows[K, A any](a *App, store string, key K, kc Codec[K], ac Codec[A], size time.Duration, from, to time.Time) ([]WindowResult[A], error) {
	kb, err := kc.Encode(key)
	if err != nil {
		return nil, fmt.Errorf("stream: fetch %s: key: %w", store, err)
	}
	s, err := a.localStore(store, kb)
	if err != nil {
		return nil, err
	}
	sliding := a.t.stores[store].node.kind == "slidingAggregate"
	return fetchWindows(s, kb, ac, sliding, size.Milliseconds(), from.UnixMilli(), to.UnixMilli())
}

// fetchWindows reads kb's open windows starting in [from, to) from s, a
// tumbling, hopping or sliding window store.
func fetchWindows[A any](s *kvStore, kb []byte, ac Codec[A], sliding bool, size, from, to int64) ([]WindowResult[A], error) {
	if sliding {
		return fetchSliding(s, kb, ac, size, from, to)
	}
	var out []WindowResult[A]
	err := s.scan(windowKey(max(from, 0), nil), windowKey(max(to, 0), nil), func(k, v []byte) error {
		if len(k) != 9+len(kb) || string(k[9:]) != string(kb) {
			return nil
		}
		val, err := ac.Decode(v)
		if err != nil {
			return fmt.Errorf("stream: fetch %s: %w", s.name, err)
		}
		start := int64(binary.BigEndian.Uint64(k[1:9]))
		out = append(out, WindowResult[A]{Start: time.UnixMilli(start), End: time.UnixMilli(start + size), Value: val})
		return nil
	})
	return out, err
}

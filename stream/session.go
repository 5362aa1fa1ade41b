package stream

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"
)

// SessionWindows group a key's records into sessions: records less than
// Gap apart (by event time) are one session, and a record that falls
// between two sessions merges them. A record older than stream time
// minus Grace is late (dropped, counted); a session [start, end] closes
// when stream time passes end+Gap+Grace, after which no record that is
// not late can reach it.
type SessionWindows struct {
	Gap, Grace time.Duration
	// OnClose emits each session once, when it closes; by default every
	// update is emitted (a session merged into another is not retracted:
	// the merged session's later update supersedes it).
	OnClose bool
}

// A session store's keys (part of the format; do not change):
//
//	'S' len(key)(4) key start(8) -> end(8) the session's aggregate
//
// A session keeps its key while it grows at its end, the common case, so
// a record that extends it is one store write and one changelog record;
// a record that moves its start or merges sessions deletes the old keys.
// The sessions by end, for closing, are an index in memory (sessionIndex)
// built from the store when a task starts.
//
// Stores and changelogs written before this format used
//
//	's' len(key)(4) key end(8) start(8) -> the session's aggregate
//	'e' end(8) start(8) key             -> empty: sessions by end
//
// which a task migrates when it starts (migrateSessions).
func sessionKey(kb []byte, start int64) []byte {
	return appendSessionKey(make([]byte, 0, 13+len(kb)), kb, start)
}

// appendSessionKey appends the store key of kb's session that starts at
// start to b.
func appendSessionKey(b, kb []byte, start int64) []byte {
	b = binary.BigEndian.AppendUint32(append(b, sessionPrefix), uint32(len(kb)))
	b = append(b, kb...)
	return binary.BigEndian.AppendUint64(b, uint64(start))
}

// key returns kb's session key in sa's scratch buffer, valid until the
// next call: the store copies the keys it keeps.
func (sa *sessionAgg[K, V, A]) key(kb []byte, start int64) []byte {
	sa.keyBuf = appendSessionKey(sa.keyBuf[:0], kb, start)
	return sa.keyBuf
}

// Key prefixes of session stores: the format's, and the old format's.
const (
	sessionPrefix    = 'S'
	oldSessionPrefix = 's'
	oldSessionEnds   = 'e'
)

// SessionAggregate folds each key's records per session into a value of
// type A in the store named store: init and add as Aggregate, and merge
// combines two sessions' values when a record joins them.
func SessionAggregate[K, V, A any](g Grouped[K, V], w SessionWindows, store string, ac Codec[A],
	init func() A, add func(k K, v V, agg A) A, merge func(k K, a, b A) A) Stream[Windowed[K], A] {
	t := g.s.p.t
	n := t.addNode("sessionAggregate", g.s.p.n)
	t.addStore(store, n)
	if w.Gap <= 0 || w.Grace < 0 {
		t.fail(fmt.Errorf("%s: session gap must be positive and grace not negative", n.name()))
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
		sa := &sessionAgg[K, V, A]{tk: tk, s: s, gap: w.Gap.Milliseconds(), grace: w.Grace.Milliseconds(), onClose: w.OnClose,
			kc: g.kc, ac: ac, init: init, add: add, merge: merge, next: next}
		tk.onStart(sa.load)
		return sa.process, nil
	})
	return Stream[Windowed[K], A]{p: p}
}

// SessionCount counts each key's records per session.
func SessionCount[K, V any](g Grouped[K, V], w SessionWindows, store string) Stream[Windowed[K], int64] {
	return SessionAggregate(g, w, store, Int64(), func() int64 { return 0 },
		func(_ K, _ V, n int64) int64 { return n + 1 }, func(_ K, a, b int64) int64 { return a + b })
}

type sessionAgg[K, V, A any] struct {
	tk         *task
	s          *kvStore
	gap, grace int64
	onClose    bool
	kc         Codec[K]
	ac         Codec[A]
	init       func() A
	add        func(K, V, A) A
	merge      func(K, A, A) A
	next       emitFn[Windowed[K], A]
	// idx holds the store's sessions (not their aggregates); built by
	// load, kept in step with every write.
	idx sessionIndex
	// olds is process's scratch: the sessions a record joins.
	olds   []*openSession
	keyBuf []byte // scratch for store keys (key)
}

// load migrates a store of the old format and builds the index; run
// once the store is restored.
func (sa *sessionAgg[K, V, A]) load() error {
	if err := migrateSessions(sa.s); err != nil {
		return err
	}
	sa.idx = sessionIndex{byKey: map[string][]*openSession{}}
	return sa.s.scan([]byte{sessionPrefix}, []byte{sessionPrefix + 1}, func(key, val []byte) error {
		kb, start, ok := parseSessionKey(key)
		if !ok || len(val) < 8 {
			return fmt.Errorf("session: store %s: malformed entry %q", sa.s.name, key)
		}
		sa.idx.add(&openSession{kb: string(kb), start: start, end: int64(binary.BigEndian.Uint64(val))})
		return nil
	})
}

// parseSessionKey splits a store key of the format into the record key
// and the session's start.
func parseSessionKey(key []byte) (kb []byte, start int64, ok bool) {
	if len(key) < 5 {
		return nil, 0, false
	}
	n := int(binary.BigEndian.Uint32(key[1:]))
	if len(key) != 13+n {
		return nil, 0, false
	}
	return key[5 : 5+n], int64(binary.BigEndian.Uint64(key[5+n:])), true
}

// migrateSessions rewrites a store's sessions of the old format ('s'
// keyed by end, 'e' index) in the format, through the changelog: the new
// keys are written and the old ones tombstoned, so compaction leaves the
// changelog in the format too. The writes commit with the task's first
// commit; a crash before it redoes the migration at the next start.
func migrateSessions(s *kvStore) error {
	type old struct{ key, val []byte }
	var olds []old
	err := s.scan([]byte{oldSessionPrefix}, []byte{oldSessionPrefix + 1}, func(key, val []byte) error {
		olds = append(olds, old{bytes.Clone(key), bytes.Clone(val)})
		return nil
	})
	if err != nil {
		return err
	}
	var ends [][]byte
	err = s.scan([]byte{oldSessionEnds}, []byte{oldSessionEnds + 1}, func(key, _ []byte) error {
		ends = append(ends, bytes.Clone(key))
		return nil
	})
	if err != nil {
		return err
	}
	for _, o := range olds {
		if len(o.key) < 5 || len(o.key) != 21+int(binary.BigEndian.Uint32(o.key[1:])) {
			return fmt.Errorf("session: store %s: malformed old entry %q", s.name, o.key)
		}
		p := len(o.key) - 16
		end, start := o.key[p:p+8], int64(binary.BigEndian.Uint64(o.key[p+8:]))
		s.put(sessionKey(o.key[5:p], start), append(bytes.Clone(end), o.val...))
		s.delete(o.key)
	}
	for _, k := range ends {
		s.delete(k)
	}
	return nil
}

type session[A any] struct {
	start, end int64
	agg        A
}

func (sa *sessionAgg[K, V, A]) process(k K, v V, ts int64) error {
	if ts < sa.tk.streamTime-sa.grace {
		sa.tk.metrics.late.Add(1)
		return sa.closeUpTo()
	}
	kb, err := sa.kc.Encode(k)
	if err != nil {
		return fmt.Errorf("session: key: %w", err)
	}
	// The sessions ts joins, by end (they are disjoint: by start too).
	sa.olds = sa.olds[:0]
	for _, o := range sa.idx.byKey[string(kb)] {
		if o.end >= ts-sa.gap && o.start <= ts+sa.gap {
			sa.olds = append(sa.olds, o)
		}
	}
	slices.SortFunc(sa.olds, func(a, b *openSession) int { return cmp.Compare(a.end, b.end) })
	cur := session[A]{start: ts, end: ts, agg: sa.init()}
	for i, o := range sa.olds {
		cur.start, cur.end = min(cur.start, o.start), max(cur.end, o.end)
		agg, err := sa.read(kb, o.start)
		if err != nil {
			return err
		}
		if i == 0 {
			cur.agg = agg
		} else {
			cur.agg = sa.merge(k, cur.agg, agg)
		}
	}
	cur.agg = sa.add(k, v, cur.agg)
	if err := sa.write(kb, cur); err != nil {
		return err
	}
	if !sa.onClose {
		if err := sa.next(Windowed[K]{Key: k, Start: time.UnixMilli(cur.start), End: time.UnixMilli(cur.end)}, cur.agg, ts); err != nil {
			return err
		}
	}
	return sa.closeUpTo()
}

// read returns the aggregate of kb's session that starts at start.
func (sa *sessionAgg[K, V, A]) read(kb []byte, start int64) (A, error) {
	var zero A
	val, ok, err := sa.s.get(sa.key(kb, start))
	if err != nil {
		return zero, err
	}
	if !ok || len(val) < 8 {
		return zero, fmt.Errorf("session: store %s: session %q@%d missing", sa.s.name, kb, start)
	}
	agg, err := sa.ac.Decode(val[8:])
	if err != nil {
		return zero, fmt.Errorf("session: store %s: %w", sa.s.name, err)
	}
	return agg, nil
}

// write stores cur, which replaces the sessions in sa.olds: the one that
// starts where cur does keeps its key (rewritten), the others are
// deleted.
func (sa *sessionAgg[K, V, A]) write(kb []byte, cur session[A]) error {
	ab, err := sa.ac.Encode(cur.agg)
	if err != nil {
		return fmt.Errorf("session: value: %w", err)
	}
	val := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(ab)), uint64(cur.end))
	var kept *openSession
	for _, o := range sa.olds {
		if o.start == cur.start {
			kept = o
			continue
		}
		sa.s.delete(sa.key(kb, o.start))
		sa.idx.remove(o)
	}
	sa.s.put(sa.key(kb, cur.start), append(val, ab...))
	if kept != nil {
		sa.idx.setEnd(kept, cur.end)
	} else {
		sa.idx.add(&openSession{kb: string(kb), start: cur.start, end: cur.end})
	}
	return nil
}

// closeUpTo closes the sessions that ended more than Gap+Grace before
// stream time, in order of end: emitted (OnClose) and deleted.
func (sa *sessionAgg[K, V, A]) closeUpTo() error {
	bound := sa.tk.streamTime - sa.gap - sa.grace // sessions with end < bound close
	for len(sa.idx.byEnd) > 0 && sa.idx.byEnd[0].end < bound {
		o := sa.idx.byEnd[0]
		sa.idx.remove(o)
		sk := sessionKey([]byte(o.kb), o.start)
		var val []byte
		if sa.onClose {
			v, ok, err := sa.s.get(sk)
			if err != nil {
				return err
			}
			if !ok || len(v) < 8 {
				return fmt.Errorf("session: store %s: session %q@%d missing", sa.s.name, o.kb, o.start)
			}
			val = v
		}
		sa.s.delete(sk)
		if sa.onClose {
			if err := sa.emitClosed(o, val[8:]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (sa *sessionAgg[K, V, A]) emitClosed(o *openSession, val []byte) error {
	k, err := sa.kc.Decode([]byte(o.kb))
	if err != nil {
		return fmt.Errorf("session: stored key: %w", err)
	}
	agg, err := sa.ac.Decode(val)
	if err != nil {
		return fmt.Errorf("session: store %s: %w", sa.s.name, err)
	}
	return sa.next(Windowed[K]{Key: k, Start: time.UnixMilli(o.start), End: time.UnixMilli(o.end)}, agg, o.end)
}

// openSession is a session in the store, without its aggregate.
type openSession struct {
	kb         string
	start, end int64
	i          int // position in sessionIndex.byEnd
}

// sessionIndex holds a task's sessions by key and by end: what a record
// joins, and what closes, without reading the store. It costs memory per
// session in the store (open sessions: closed ones are deleted).
//
// Invariant: byKey and byEnd hold the same sessions, those of the store;
// byEnd is a min-heap by (end, start, key), the order of the old 'e'
// index, and byEnd[o.i] == o.
type sessionIndex struct {
	byKey map[string][]*openSession
	byEnd []*openSession
}

func (x *sessionIndex) add(o *openSession) {
	x.byKey[o.kb] = append(x.byKey[o.kb], o)
	o.i = len(x.byEnd)
	x.byEnd = append(x.byEnd, o)
	x.up(o.i)
}

func (x *sessionIndex) remove(o *openSession) {
	ss := x.byKey[o.kb]
	if len(ss) == 1 {
		delete(x.byKey, o.kb)
	} else {
		i := slices.Index(ss, o)
		x.byKey[o.kb] = slices.Delete(ss, i, i+1)
	}
	last := len(x.byEnd) - 1
	i := o.i
	x.swap(i, last)
	x.byEnd[last] = nil
	x.byEnd = x.byEnd[:last]
	if i < last {
		x.down(i)
		x.up(i)
	}
}

// setEnd moves o's end to end (which only grows).
func (x *sessionIndex) setEnd(o *openSession, end int64) {
	o.end = end
	x.down(o.i)
}

func (x *sessionIndex) less(i, j int) bool {
	a, b := x.byEnd[i], x.byEnd[j]
	if a.end != b.end {
		return a.end < b.end
	}
	if a.start != b.start {
		return a.start < b.start
	}
	return a.kb < b.kb
}

func (x *sessionIndex) swap(i, j int) {
	x.byEnd[i], x.byEnd[j] = x.byEnd[j], x.byEnd[i]
	x.byEnd[i].i, x.byEnd[j].i = i, j
}

func (x *sessionIndex) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !x.less(i, p) {
			return
		}
		x.swap(i, p)
		i = p
	}
}

func (x *sessionIndex) down(i int) {
	for n := len(x.byEnd); ; {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && x.less(c+1, c) {
			c++
		}
		if !x.less(c, i) {
			return
		}
		x.swap(i, c)
		i = c
	}
}

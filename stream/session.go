package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
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
//	's' len(key)(4) key end(8) start(8) -> the session's aggregate
//	'e' end(8) start(8) key             -> empty: sessions by end, for closing
func sessionKey(kb []byte, start, end int64) []byte {
	b := binary.BigEndian.AppendUint32(append(make([]byte, 0, 21+len(kb)), 's'), uint32(len(kb)))
	b = append(b, kb...)
	b = binary.BigEndian.AppendUint64(b, uint64(end))
	return binary.BigEndian.AppendUint64(b, uint64(start))
}

func sessionEndKey(kb []byte, start, end int64) []byte {
	b := binary.BigEndian.AppendUint64(append(make([]byte, 0, 17+len(kb)), 'e'), uint64(end))
	b = binary.BigEndian.AppendUint64(b, uint64(start))
	return append(b, kb...)
}

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
		s.indexWrites() // scanned in the key's range per record
		next, err := p.build(tk)
		if err != nil {
			return nil, err
		}
		sa := &sessionAgg[K, V, A]{tk: tk, s: s, gap: w.Gap.Milliseconds(), grace: w.Grace.Milliseconds(), onClose: w.OnClose,
			kc: g.kc, ac: ac, init: init, add: add, merge: merge, next: next, minEnd: -1}
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
	minEnd     int64 // lowest end of an open session; -1: unknown, scan
	// closedBelow is the bound of the last closing scan: every session
	// ending before it is closed, and no record that is not late can
	// start one there again, so the next scan starts at it, past the
	// closed sessions' deletes. 0 at a task's start.
	closedBelow int64
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
	olds, err := sa.overlapping(kb, ts)
	if err != nil {
		return err
	}
	cur := session[A]{start: ts, end: ts, agg: sa.init()}
	for i, o := range olds {
		cur.start, cur.end = min(cur.start, o.start), max(cur.end, o.end)
		if i == 0 {
			cur.agg = o.agg
		} else {
			cur.agg = sa.merge(k, cur.agg, o.agg)
		}
		sa.s.delete(sessionKey(kb, o.start, o.end))
		sa.s.delete(sessionEndKey(kb, o.start, o.end))
	}
	cur.agg = sa.add(k, v, cur.agg)
	b, err := sa.ac.Encode(cur.agg)
	if err != nil {
		return fmt.Errorf("session: value: %w", err)
	}
	sa.s.put(sessionKey(kb, cur.start, cur.end), b)
	sa.s.put(sessionEndKey(kb, cur.start, cur.end), []byte{})
	if sa.minEnd >= 0 {
		sa.minEnd = min(sa.minEnd, cur.end)
	}
	if !sa.onClose {
		if err := sa.next(Windowed[K]{Key: k, Start: time.UnixMilli(cur.start), End: time.UnixMilli(cur.end)}, cur.agg, ts); err != nil {
			return err
		}
	}
	return sa.closeUpTo()
}

// overlapping returns kb's sessions that a record at ts joins, by end.
func (sa *sessionAgg[K, V, A]) overlapping(kb []byte, ts int64) ([]session[A], error) {
	var out []session[A]
	from := sessionKey(kb, 0, max(ts-sa.gap, 0))[:5+len(kb)+8]
	to := sessionKey(kb, 0, 1<<62)[:5+len(kb)+8]
	err := sa.s.scan(from, to, func(key, val []byte) error {
		p := 5 + len(kb)
		end, start := int64(binary.BigEndian.Uint64(key[p:])), int64(binary.BigEndian.Uint64(key[p+8:]))
		if start > ts+sa.gap {
			return nil
		}
		agg, err := sa.ac.Decode(val)
		if err != nil {
			return fmt.Errorf("session: store %s: %w", sa.s.name, err)
		}
		out = append(out, session[A]{start: start, end: end, agg: agg})
		return nil
	})
	return out, err
}

// closeUpTo closes the sessions that ended more than Gap+Grace before
// stream time: emitted (OnClose) and deleted.
func (sa *sessionAgg[K, V, A]) closeUpTo() error {
	bound := sa.tk.streamTime - sa.gap - sa.grace // sessions with end < bound close
	if sa.minEnd >= 0 && sa.minEnd >= bound {
		return nil
	}
	type closing struct{ ek, sk, val []byte }
	var done []closing
	sa.minEnd = -1
	stop := errors.New("stop")
	from := binary.BigEndian.AppendUint64([]byte{'e'}, uint64(max(sa.closedBelow, 0)))
	err := sa.s.scan(from, []byte{'f'}, func(ek, _ []byte) error {
		end, start := int64(binary.BigEndian.Uint64(ek[1:])), int64(binary.BigEndian.Uint64(ek[9:]))
		if end >= bound {
			sa.minEnd = end
			return stop
		}
		kb := ek[17:]
		sk := sessionKey(kb, start, end)
		val, _, err := sa.s.get(sk)
		done = append(done, closing{bytesCopy(ek), sk, val})
		return err
	})
	if err != nil && !errors.Is(err, stop) {
		return err
	}
	if !errors.Is(err, stop) {
		sa.minEnd = 1 << 62 // no open session left
	}
	sa.closedBelow = max(sa.closedBelow, bound)
	for _, c := range done {
		sa.s.delete(c.ek)
		sa.s.delete(c.sk)
		if sa.onClose {
			if err := sa.emitClosed(c.ek, c.val); err != nil {
				return err
			}
		}
	}
	return nil
}

func (sa *sessionAgg[K, V, A]) emitClosed(ek, val []byte) error {
	end, start := int64(binary.BigEndian.Uint64(ek[1:])), int64(binary.BigEndian.Uint64(ek[9:]))
	k, err := sa.kc.Decode(ek[17:])
	if err != nil {
		return fmt.Errorf("session: stored key: %w", err)
	}
	agg, err := sa.ac.Decode(val)
	if err != nil {
		return fmt.Errorf("session: store %s: %w", sa.s.name, err)
	}
	return sa.next(Windowed[K]{Key: k, Start: time.UnixMilli(start), End: time.UnixMilli(end)}, agg, end)
}

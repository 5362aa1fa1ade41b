package stream

import (
	"encoding/binary"
	"fmt"
	"time"
)

// JoinTable joins each record of s with the value its key has in tb at
// that moment (stream-table join, for enrichment): f's result is emitted
// with the record's key and timestamp; a record whose key is not in tb
// is dropped (see LeftJoinTable). Updates of tb emit nothing.
//
// s and tb become one subtopology, so their topics must be
// co-partitioned (App.Run fails at start with the partition counts if
// not), and s must be keyed as its topic is partitioned: repartition it
// first if its keys changed. Records are taken partition by partition as
// they are fetched, so a table update and a stream record with close
// timestamps may be applied in either order.
func JoinTable[K, V, T, R any](s Stream[K, V], tb Table[K, T], f func(k K, v V, t T) R) Stream[K, R] {
	return joinTable(s, tb, "joinTable", func(k K, v V, t T, ok bool) (R, bool) {
		if !ok {
			var zero R
			return zero, false
		}
		return f(k, v, t), true
	})
}

// LeftJoinTable is JoinTable that keeps records whose key is not in tb:
// f gets ok false and t's zero value for them.
func LeftJoinTable[K, V, T, R any](s Stream[K, V], tb Table[K, T], f func(k K, v V, t T, ok bool) R) Stream[K, R] {
	return joinTable(s, tb, "leftJoinTable", func(k K, v V, t T, ok bool) (R, bool) { return f(k, v, t, ok), true })
}

func joinTable[K, V, T, R any](s Stream[K, V], tb Table[K, T], kind string, f func(K, V, T, bool) (R, bool)) Stream[K, R] {
	t := s.p.t
	n := t.addNode(kind, s.p.n, tb.p.n)
	if s.keyChanged {
		t.fail(fmt.Errorf("%s: the stream's keys may have changed (Map, SelectKey, FlatMap): Repartition it before joining", n.name()))
	}
	out := newPort[K, R](t, n)
	s.p.connect(func(tk *task) (emitFn[K, V], error) {
		st, err := tk.store(tb.store)
		if err != nil {
			return nil, err
		}
		next, err := out.build(tk)
		if err != nil {
			return nil, err
		}
		return func(k K, v V, ts int64) error {
			tv, ok, err := lookup(st, tb.kc, tb.vc, k)
			if err != nil {
				return err
			}
			if r, emit := f(k, v, tv, ok); emit {
				return next(k, r, ts)
			}
			return nil
		}, nil
	})
	return Stream[K, R]{p: out}
}

// lookup reads k from a table's store.
func lookup[K, V any](s *kvStore, kc Codec[K], vc Codec[V], k K) (V, bool, error) {
	var zero V
	kb, err := kc.Encode(k)
	if err != nil {
		return zero, false, fmt.Errorf("join: key: %w", err)
	}
	b, ok, err := s.get(kb)
	if err != nil || !ok {
		return zero, false, err
	}
	v, err := vc.Decode(b)
	if err != nil {
		return zero, false, fmt.Errorf("join: store %s: %w", s.name, err)
	}
	return v, true, nil
}

// JoinTables joins two tables by key (inner): the result has a value for
// every key both have, f of the two, and changes whenever either side
// does (a delete on either side deletes the key). The result is not
// materialized: use its Changes or ToStream, or aggregate it. The tables'
// topics must be co-partitioned.
func JoinTables[K, A, B, R any](a Table[K, A], b Table[K, B], f func(k K, a A, b B) R) Table[K, R] {
	t := a.p.t
	n := t.addNode("joinTables", a.p.n, b.p.n)
	out := newPort[K, Change[R]](t, n)
	a.p.connect(func(tk *task) (emitFn[K, Change[A]], error) {
		return tableSide(tk, out, b, func(k K, x A, y B) R { return f(k, x, y) })
	})
	b.p.connect(func(tk *task) (emitFn[K, Change[B]], error) {
		return tableSide(tk, out, a, func(k K, y B, x A) R { return f(k, x, y) })
	})
	return Table[K, R]{p: out, kc: a.kc}
}

// tableSide turns one side's change into the joined table's change, by
// the other side's current value.
func tableSide[K, X, Y, R any](tk *task, out *port[K, Change[R]], other Table[K, Y], f func(K, X, Y) R) (emitFn[K, Change[X]], error) {
	st, err := tk.store(other.store)
	if err != nil {
		return nil, err
	}
	next, err := out.build(tk)
	if err != nil {
		return nil, err
	}
	return func(k K, c Change[X], ts int64) error {
		y, ok, err := lookup(st, other.kc, other.vc, k)
		if err != nil || !ok {
			return err
		}
		var rc Change[R]
		if c.HasOld {
			rc.Old, rc.HasOld = f(k, c.Old, y), true
		}
		if c.HasNew {
			rc.New, rc.HasNew = f(k, c.New, y), true
		}
		if !rc.HasOld && !rc.HasNew {
			return nil
		}
		return next(k, rc, ts)
	}, nil
}

// JoinWindows bounds a stream-stream join: records of the two sides join
// when their timestamps are at most Within apart; a record older than
// stream time minus Within and Grace is late (dropped, counted).
type JoinWindows struct {
	Within, Grace time.Duration
}

// JoinStreams joins the records of a and b with one key whose timestamps
// are within w of each other (inner): each pair is emitted once, f of
// the two, when the second of them is processed, with the later of their
// timestamps. Each side is buffered in a store (name-left, name-right)
// for Within+Grace of stream time. The streams' topics must be co-partitioned and keyed
// as partitioned.
func JoinStreams[K, A, B, R any](a Stream[K, A], b Stream[K, B], w JoinWindows, name string,
	kc Codec[K], ac Codec[A], bc Codec[B], f func(k K, a A, b B) R) Stream[K, R] {
	t := a.p.t
	n := t.addNode("joinStreams", a.p.n, b.p.n)
	if a.keyChanged || b.keyChanged {
		t.fail(fmt.Errorf("%s: a stream's keys may have changed (Map, SelectKey, FlatMap): Repartition it before joining", n.name()))
	}
	if w.Within < 0 || w.Grace < 0 {
		t.fail(fmt.Errorf("%s: negative Within or Grace", n.name()))
	}
	left, right := name+"-left", name+"-right"
	t.addStore(left, n)
	t.addStore(right, t.addNode("joinStreamsBuffer", n))
	out := newPort[K, R](t, n)
	within, keep := w.Within.Milliseconds(), (w.Within + w.Grace).Milliseconds()
	a.p.connect(func(tk *task) (emitFn[K, A], error) {
		return streamSide(tk, out, left, right, within, keep, kc, ac, bc, f)
	})
	b.p.connect(func(tk *task) (emitFn[K, B], error) {
		return streamSide(tk, out, right, left, within, keep, kc, bc, ac, func(k K, y B, x A) R { return f(k, x, y) })
	})
	return Stream[K, R]{p: out}
}

// A join buffer's keys (part of the store's format; do not change):
//
//	len(key)(4) key ts(8) seq(8) -> the record's value
//
// seq tells apart records of one key and timestamp (a per-task counter
// seeded from the clock, so it grows across restarts).
func bufferKey(kb []byte, ts int64, seq uint64) []byte {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 20+len(kb)), uint32(len(kb)))
	b = append(b, kb...)
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	return binary.BigEndian.AppendUint64(b, seq)
}

func streamSide[K, X, Y, R any](tk *task, out *port[K, R], mine, theirs string, within, keep int64,
	kc Codec[K], xc Codec[X], yc Codec[Y], f func(K, X, Y) R) (emitFn[K, X], error) {
	ms, err := tk.store(mine)
	if err != nil {
		return nil, err
	}
	ts2, err := tk.store(theirs)
	if err != nil {
		return nil, err
	}
	ts2.indexWrites() // scanned in a key's time range per record of the other side
	next, err := out.build(tk)
	if err != nil {
		return nil, err
	}
	j := &joinSide[K, X, Y, R]{tk: tk, mine: ms, theirs: ts2, within: within, keep: keep,
		kc: kc, xc: xc, yc: yc, f: f, next: next, seq: uint64(time.Now().UnixNano())}
	return j.process, nil
}

// joinSide is one side of a stream-stream join in one task.
type joinSide[K, X, Y, R any] struct {
	tk           *task
	mine, theirs *kvStore
	within, keep int64
	kc           Codec[K]
	xc           Codec[X]
	yc           Codec[Y]
	f            func(K, X, Y) R
	next         emitFn[K, R]
	seq          uint64
	lastPurge    int64 // stream time / keep at the last purge
}

func (j *joinSide[K, X, Y, R]) process(k K, x X, ts int64) error {
	if ts < j.tk.streamTime-j.keep {
		j.tk.metrics.late.Add(1)
		return nil
	}
	kb, err := j.kc.Encode(k)
	if err != nil {
		return fmt.Errorf("join: key: %w", err)
	}
	xb, err := j.xc.Encode(x)
	if err != nil {
		return fmt.Errorf("join: value: %w", err)
	}
	j.seq++
	j.mine.put(bufferKey(kb, ts, j.seq), xb)
	type pair struct {
		y  Y
		ts int64
	}
	var pairs []pair
	err = j.theirs.scan(bufferKey(kb, max(ts-j.within, 0), 0), bufferKey(kb, ts+j.within+1, 0), func(key, v []byte) error {
		y, err := j.yc.Decode(v)
		pairs = append(pairs, pair{y, int64(binary.BigEndian.Uint64(key[4+len(kb):]))})
		return err
	})
	if err != nil {
		return fmt.Errorf("join: store %s: %w", j.theirs.name, err)
	}
	for _, p := range pairs {
		if err := j.next(k, j.f(k, x, p.y), max(ts, p.ts)); err != nil {
			return err
		}
	}
	return j.purge()
}

// purge deletes this side's buffered records older than stream time
// minus Within and Grace; it scans the buffer once per that much stream
// time.
func (j *joinSide[K, X, Y, R]) purge() error {
	if j.keep <= 0 || j.tk.streamTime/j.keep == j.lastPurge {
		return nil
	}
	j.lastPurge = j.tk.streamTime / j.keep
	horizon := j.tk.streamTime - j.keep
	var old [][]byte
	err := j.mine.scan(nil, nil, func(key, _ []byte) error {
		n := int(binary.BigEndian.Uint32(key))
		if int64(binary.BigEndian.Uint64(key[4+n:])) < horizon {
			old = append(old, bytesCopy(key))
		}
		return nil
	})
	for _, key := range old {
		j.mine.delete(key)
	}
	return err
}

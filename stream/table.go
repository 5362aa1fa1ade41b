package stream

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Change is an update of a table's key: the value before (if HasOld) and
// after (if HasNew; a delete has none).
type Change[V any] struct {
	Old, New       V
	HasOld, HasNew bool
}

// Table is a table: the latest value per key, kept in a state store
// backed by a compacted changelog topic, and the stream of its changes.
type Table[K, V any] struct {
	p     *port[K, Change[V]]
	store string
	kc    Codec[K]
	vc    Codec[V]
}

// Store is the name of the table's state store.
func (tb Table[K, V]) Store() string { return tb.store }

// Changes is the stream of the table's updates, deletes included.
func (tb Table[K, V]) Changes() Stream[K, Change[V]] { return Stream[K, Change[V]]{p: tb.p} }

// ToStream is the stream of the table's new values (deletes left out).
func (tb Table[K, V]) ToStream() Stream[K, V] {
	p := child(tb.Changes(), "toStream", func(next emitFn[K, V]) emitFn[K, Change[V]] {
		return func(k K, c Change[V], ts int64) error {
			if !c.HasNew {
				return nil
			}
			return next(k, c.New, ts)
		}
	})
	return Stream[K, V]{p: p}
}

// TableOf reads topic as a table: each record sets its key's value, and a
// record with a null value (a tombstone) deletes the key. The table is
// kept in the store named store.
func TableOf[K, V any](t *Topology, topic, store string, kc Codec[K], vc Codec[V]) Table[K, V] {
	src := t.addNode("source")
	src.topics = []string{topic}
	n := t.addNode("table", src)
	t.addStore(store, n)
	t.setQuery(store, kvQuery(kc, vc))
	out := newPort[K, Change[V]](t, n)
	t.addSource(&sourceDef{topic: topic, node: src, build: func(tk *task) (recordFn, error) {
		s, err := tk.store(store)
		if err != nil {
			return nil, err
		}
		next, err := out.build(tk)
		if err != nil {
			return nil, err
		}
		return func(r *kgo.Record) error {
			return upsert(tk, s, kc, vc, next, r)
		}, nil
	}})
	return Table[K, V]{p: out, store: store, kc: kc, vc: vc}
}

// upsert applies one record of a table's topic to its store.
func upsert[K, V any](tk *task, s *kvStore, kc Codec[K], vc Codec[V], next emitFn[K, Change[V]], r *kgo.Record) error {
	k, err := kc.Decode(r.Key)
	if err != nil {
		return tk.undecodable(r, err)
	}
	var c Change[V]
	if r.Value != nil {
		if c.New, err = vc.Decode(r.Value); err != nil {
			return tk.undecodable(r, err)
		}
		c.HasNew = true
	}
	old, ok, err := s.get(r.Key)
	if err != nil {
		return err
	}
	if ok {
		if c.Old, err = vc.Decode(old); err != nil {
			return fmt.Errorf("store %s: %w", s.name, err)
		}
		c.HasOld = true
	}
	if c.HasNew {
		s.put(bytesCopy(r.Key), bytesCopy(r.Value))
	} else {
		s.delete(bytesCopy(r.Key))
	}
	return next(k, c, r.Timestamp.UnixMilli())
}

func bytesCopy(b []byte) []byte { return append([]byte(nil), b...) }

// Grouped is a stream grouped by key, ready to aggregate: every record of
// one key is in one task.
type Grouped[K, V any] struct {
	s  Stream[K, V]
	kc Codec[K]
	vc Codec[V]
}

// GroupByKey groups s by its keys. If a processor upstream may have
// changed the keys (Map, SelectKey, FlatMap), s is first repartitioned
// through an internal topic, written with kc and vc.
func GroupByKey[K, V any](s Stream[K, V], kc Codec[K], vc Codec[V]) Grouped[K, V] {
	if s.keyChanged {
		s = Repartition(s, fmt.Sprintf("group-%d", len(s.p.t.nodes)), kc, vc)
	}
	return Grouped[K, V]{s: s, kc: kc, vc: vc}
}

// GroupBy groups s by the key f gives each record, through a repartition
// topic.
func GroupBy[K, V, K2 any](s Stream[K, V], f func(k K, v V) K2, kc Codec[K2], vc Codec[V]) Grouped[K2, V] {
	return GroupByKey(SelectKey(s, f), kc, vc)
}

// Aggregate folds each key's records into a value of type A, kept in the
// store named store (values encoded with ac): init gives a key's first
// value, add folds one record in. The result is a table whose changes
// are emitted on every update.
func Aggregate[K, V, A any](g Grouped[K, V], store string, ac Codec[A], init func() A, add func(k K, v V, agg A) A) Table[K, A] {
	return fold(g, "aggregate", store, ac, func(k K, v V, agg A, has bool) A {
		if !has {
			agg = init()
		}
		return add(k, v, agg)
	})
}

// Count counts each key's records, in the store named store.
func Count[K, V any](g Grouped[K, V], store string) Table[K, int64] {
	return fold(g, "count", store, Int64(), func(_ K, _ V, n int64, _ bool) int64 { return n + 1 })
}

// Reduce combines each key's values with f; a key's first value is taken
// as it is.
func Reduce[K, V any](g Grouped[K, V], store string, f func(agg, v V) V) Table[K, V] {
	return fold(g, "reduce", store, g.vc, func(_ K, v V, agg V, has bool) V {
		if !has {
			return v
		}
		return f(agg, v)
	})
}

// fold is the stateful node under Aggregate, Count and Reduce: add gets
// the key's current value and whether it has one.
func fold[K, V, A any](g Grouped[K, V], kind, store string, ac Codec[A], add func(K, V, A, bool) A) Table[K, A] {
	t := g.s.p.t
	n := t.addNode(kind, g.s.p.n)
	t.addStore(store, n)
	t.setQuery(store, kvQuery(g.kc, ac))
	p := newPort[K, Change[A]](t, n)
	g.s.p.connect(func(tk *task) (emitFn[K, V], error) {
		s, err := tk.store(store)
		if err != nil {
			return nil, err
		}
		next, err := p.build(tk)
		if err != nil {
			return nil, err
		}
		return func(k K, v V, ts int64) error {
			return foldOne(s, g.kc, ac, add, next, k, v, ts)
		}, nil
	})
	return Table[K, A]{p: p, store: store, kc: g.kc, vc: ac}
}

func foldOne[K, V, A any](s *kvStore, kc Codec[K], ac Codec[A], add func(K, V, A, bool) A,
	next emitFn[K, Change[A]], k K, v V, ts int64) error {
	kb, err := kc.Encode(k)
	if err != nil {
		return fmt.Errorf("store %s: key: %w", s.name, err)
	}
	var c Change[A]
	old, ok, err := s.get(kb)
	if err != nil {
		return err
	}
	if ok {
		if c.Old, err = ac.Decode(old); err != nil {
			return fmt.Errorf("store %s: %w", s.name, err)
		}
		c.HasOld = true
	}
	c.New, c.HasNew = add(k, v, c.Old, ok), true
	nb, err := ac.Encode(c.New)
	if err != nil {
		return fmt.Errorf("store %s: value: %w", s.name, err)
	}
	s.put(kb, nb)
	return next(k, c, ts)
}

// ErrNotLocal is returned by interactive queries for a key whose task
// runs on another instance (or on none yet).
var ErrNotLocal = errors.New("stream: key's task is not on this instance")

// Get reads key's value from the table's store on a, if a runs the task
// that owns key (ErrNotLocal if not). It sees the latest update,
// committed or not.
func (tb Table[K, V]) Get(a *App, key K) (V, bool, error) {
	var zero V
	kb, err := tb.kc.Encode(key)
	if err != nil {
		return zero, false, fmt.Errorf("stream: get %s: key: %w", tb.store, err)
	}
	s, err := a.localStore(tb.store, kb)
	if err != nil {
		return zero, false, err
	}
	b, ok, err := s.get(kb)
	if err != nil || !ok {
		return zero, false, err
	}
	v, err := tb.vc.Decode(b)
	if err != nil {
		return zero, false, fmt.Errorf("stream: get %s: %w", tb.store, err)
	}
	return v, true, nil
}

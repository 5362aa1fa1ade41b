package stream

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Stream is a typed stream of records with keys K and values V. Its
// methods add processors that keep the types; the functions Map,
// MapValues, FlatMap, SelectKey and the aggregations change them (Go
// methods cannot have type parameters).
type Stream[K, V any] struct {
	p *port[K, V]
	// keyChanged marks a stream whose keys a processor may have changed:
	// grouping it repartitions through an internal topic first.
	keyChanged bool
}

// KeyValue is a key and a value, as FlatMap returns them.
type KeyValue[K, V any] struct {
	Key   K
	Value V
}

// Source reads topic as a stream, decoding keys with kc and values with
// vc. A record that does not decode stops the App with an error that
// names its topic, partition and offset (nothing past it is committed),
// unless Config.SkipUndecodable is set.
func Source[K, V any](t *Topology, topic string, kc Codec[K], vc Codec[V]) Stream[K, V] {
	n := t.addNode("source")
	n.topics = []string{topic}
	p := newPort[K, V](t, n)
	t.addSource(&sourceDef{topic: topic, node: n, build: decodeSource(p, kc, vc)})
	return Stream[K, V]{p: p}
}

func decodeSource[K, V any](p *port[K, V], kc Codec[K], vc Codec[V]) func(tk *task) (recordFn, error) {
	return func(tk *task) (recordFn, error) {
		next, err := p.build(tk)
		if err != nil {
			return nil, err
		}
		return func(r *kgo.Record) error {
			k, err := kc.Decode(r.Key)
			if err == nil {
				var v V
				if v, err = vc.Decode(r.Value); err == nil {
					return next(k, v, r.Timestamp.UnixMilli())
				}
			}
			return tk.undecodable(r, err)
		}, nil
	}
}

// child adds a node of kind below s and returns its output port.
func child[K, V, K2, V2 any](s Stream[K, V], kind string, wrap func(next emitFn[K2, V2]) emitFn[K, V]) *port[K2, V2] {
	n := s.p.t.addNode(kind, s.p.n)
	out := newPort[K2, V2](s.p.t, n)
	s.p.connect(func(tk *task) (emitFn[K, V], error) {
		next, err := out.build(tk)
		if err != nil {
			return nil, err
		}
		return wrap(next), nil
	})
	return out
}

// Filter keeps the records for which keep returns true.
func (s Stream[K, V]) Filter(keep func(k K, v V) bool) Stream[K, V] {
	p := child(s, "filter", func(next emitFn[K, V]) emitFn[K, V] {
		return func(k K, v V, ts int64) error {
			if !keep(k, v) {
				return nil
			}
			return next(k, v, ts)
		}
	})
	return Stream[K, V]{p: p, keyChanged: s.keyChanged}
}

// Peek calls f for every record and passes the record on unchanged.
func (s Stream[K, V]) Peek(f func(k K, v V)) Stream[K, V] {
	p := child(s, "peek", func(next emitFn[K, V]) emitFn[K, V] {
		return func(k K, v V, ts int64) error {
			f(k, v)
			return next(k, v, ts)
		}
	})
	return Stream[K, V]{p: p, keyChanged: s.keyChanged}
}

// Foreach calls f for every record: a terminal processor.
func (s Stream[K, V]) Foreach(f func(k K, v V)) { s.Peek(f) }

// Branch splits s: a record goes to the first stream whose predicate
// returns true, and is dropped when none does. It returns one stream per
// predicate, in order.
func (s Stream[K, V]) Branch(preds ...func(k K, v V) bool) []Stream[K, V] {
	n := s.p.t.addNode("branch", s.p.n)
	outs := make([]*port[K, V], len(preds))
	res := make([]Stream[K, V], len(preds))
	for i := range preds {
		bn := s.p.t.addNode(fmt.Sprintf("branch%d", i), n)
		outs[i] = newPort[K, V](s.p.t, bn)
		res[i] = Stream[K, V]{p: outs[i], keyChanged: s.keyChanged}
	}
	s.p.connect(func(tk *task) (emitFn[K, V], error) {
		nexts := make([]emitFn[K, V], len(outs))
		for i, o := range outs {
			f, err := o.build(tk)
			if err != nil {
				return nil, err
			}
			nexts[i] = f
		}
		return func(k K, v V, ts int64) error {
			for i, keep := range preds {
				if keep(k, v) {
					return nexts[i](k, v, ts)
				}
			}
			return nil
		}, nil
	})
	return res
}

// Merge is a stream of the records of s and o. Their sources become one
// subtopology, so they must have the same number of partitions.
func (s Stream[K, V]) Merge(o Stream[K, V]) Stream[K, V] {
	n := s.p.t.addNode("merge", s.p.n, o.p.n)
	out := newPort[K, V](s.p.t, n)
	pass := func(tk *task) (emitFn[K, V], error) { return out.build(tk) }
	s.p.connect(pass)
	o.p.connect(pass)
	return Stream[K, V]{p: out, keyChanged: s.keyChanged || o.keyChanged}
}

// To writes every record to topic, keys encoded with kc and values with
// vc, partitioned by the key's murmur2 hash as Kafka's producers do. The
// topic must exist. A record is committed as consumed only once its
// output is acknowledged (at-least-once), or in the same transaction
// (exactly-once).
func (s Stream[K, V]) To(topic string, kc Codec[K], vc Codec[V]) {
	n := s.p.t.addNode("sink", s.p.n)
	n.sink = topic
	s.p.connect(sinkBuild(s.p.t, topic, kc, vc))
}

func sinkBuild[K, V any](t *Topology, logical string, kc Codec[K], vc Codec[V]) func(tk *task) (emitFn[K, V], error) {
	return func(tk *task) (emitFn[K, V], error) {
		topic := t.physical(tk.app.cfg.AppID, logical)
		return func(k K, v V, ts int64) error {
			kb, err := kc.Encode(k)
			if err != nil {
				return fmt.Errorf("sink %s: key: %w", topic, err)
			}
			vb, err := vc.Encode(v)
			if err != nil {
				return fmt.Errorf("sink %s: value: %w", topic, err)
			}
			tk.produce(topic, kb, vb, ts)
			return nil
		}, nil
	}
}

// Map turns each record into another, key and value: the result's keys
// may differ, so grouping it repartitions.
func Map[K, V, K2, V2 any](s Stream[K, V], f func(k K, v V) (K2, V2)) Stream[K2, V2] {
	p := child(s, "map", func(next emitFn[K2, V2]) emitFn[K, V] {
		return func(k K, v V, ts int64) error {
			k2, v2 := f(k, v)
			return next(k2, v2, ts)
		}
	})
	return Stream[K2, V2]{p: p, keyChanged: true}
}

// MapValues turns each record's value into another; keys stay.
func MapValues[K, V, V2 any](s Stream[K, V], f func(k K, v V) V2) Stream[K, V2] {
	p := child(s, "mapValues", func(next emitFn[K, V2]) emitFn[K, V] {
		return func(k K, v V, ts int64) error { return next(k, f(k, v), ts) }
	})
	return Stream[K, V2]{p: p, keyChanged: s.keyChanged}
}

// FlatMap turns each record into zero or more records.
func FlatMap[K, V, K2, V2 any](s Stream[K, V], f func(k K, v V) []KeyValue[K2, V2]) Stream[K2, V2] {
	p := child(s, "flatMap", func(next emitFn[K2, V2]) emitFn[K, V] {
		return func(k K, v V, ts int64) error {
			for _, kv := range f(k, v) {
				if err := next(kv.Key, kv.Value, ts); err != nil {
					return err
				}
			}
			return nil
		}
	})
	return Stream[K2, V2]{p: p, keyChanged: true}
}

// FlatMapValues turns each record's value into zero or more values, each
// a record with the same key.
func FlatMapValues[K, V, V2 any](s Stream[K, V], f func(k K, v V) []V2) Stream[K, V2] {
	p := child(s, "flatMapValues", func(next emitFn[K, V2]) emitFn[K, V] {
		return func(k K, v V, ts int64) error {
			for _, v2 := range f(k, v) {
				if err := next(k, v2, ts); err != nil {
					return err
				}
			}
			return nil
		}
	})
	return Stream[K, V2]{p: p, keyChanged: s.keyChanged}
}

// SelectKey gives each record the key f returns.
func SelectKey[K, V, K2 any](s Stream[K, V], f func(k K, v V) K2) Stream[K2, V] {
	p := child(s, "selectKey", func(next emitFn[K2, V]) emitFn[K, V] {
		return func(k K, v V, ts int64) error { return next(f(k, v), v, ts) }
	})
	return Stream[K2, V]{p: p, keyChanged: true}
}

// Repartition writes s to the internal topic <app>-<name>-repartition,
// partitioned by key, and reads it back as a new subtopology: after it,
// all records with one key are in one task. The topic is created at start
// with as many partitions as the subtopology that writes it.
func Repartition[K, V any](s Stream[K, V], name string, kc Codec[K], vc Codec[V]) Stream[K, V] {
	t := s.p.t
	sink := t.addNode("sink", s.p.n)
	sink.sink, sink.intern = name, true
	s.p.connect(sinkBuild(t, name, kc, vc))
	src := t.addNode("source")
	src.topics, src.intern = []string{name}, true
	p := newPort[K, V](t, src)
	t.addSource(&sourceDef{topic: name, internal: true, node: src, upstream: sink, build: decodeSource(p, kc, vc)})
	return Stream[K, V]{p: p}
}

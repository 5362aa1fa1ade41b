package stream

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// emitFn passes one record to a processor: its key, value and timestamp
// (event time, Unix milliseconds).
type emitFn[K, V any] func(k K, v V, ts int64) error

// recordFn takes one consumed record into a task.
type recordFn func(r *kgo.Record) error

// port is a node's output: the processors downstream of it. The graph is
// built once; each task builds its own chain of closures from it (build),
// with its own state stores, so tasks share nothing.
type port[K, V any] struct {
	t        *Topology
	n        *node
	children []func(tk *task) (emitFn[K, V], error)
}

func newPort[K, V any](t *Topology, n *node) *port[K, V] { return &port[K, V]{t: t, n: n} }

// connect adds a downstream processor: build returns its emit function
// for a task, given the task.
func (p *port[K, V]) connect(build func(tk *task) (emitFn[K, V], error)) {
	p.children = append(p.children, build)
}

// build returns the emit function that feeds every child, built once per
// task (a node reached from two parents is built once).
func (p *port[K, V]) build(tk *task) (emitFn[K, V], error) {
	return memo(tk, p.n.id, func() (emitFn[K, V], error) {
		fns := make([]emitFn[K, V], 0, len(p.children))
		for _, c := range p.children {
			f, err := c(tk)
			if err != nil {
				return nil, err
			}
			fns = append(fns, f)
		}
		switch len(fns) {
		case 0:
			return func(K, V, int64) error { return nil }, nil
		case 1:
			return fns[0], nil
		}
		return func(k K, v V, ts int64) error {
			for _, f := range fns {
				if err := f(k, v, ts); err != nil {
					return err
				}
			}
			return nil
		}, nil
	})
}

// memo builds a node's per-task value once.
func memo[T any](tk *task, id int, build func() (T, error)) (T, error) {
	if v, ok := tk.memo[id]; ok {
		t, ok := v.(T)
		if !ok {
			var zero T
			return zero, fmt.Errorf("internal: node %d built as %T, wanted %T", id, v, zero)
		}
		return t, nil
	}
	v, err := build()
	if err != nil {
		return v, err
	}
	tk.memo[id] = v
	return v, nil
}

package pubsub

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// CommittedMark returns the dispatch mark r knows committed for the
// partition, or -1 if r does not have the partition: for tests in
// package pubsub_test.
func CommittedMark(r *Router, topic string, partition int32) int64 {
	p := r.partition(topic, partition)
	if p == nil {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.markCommitted
}

// RecordContexts returns a function that makes the context the router
// gives an attempt on a record, from blocks of n as the router's chunks
// allocate them, and a Message as the router's workers keep one (with a
// context slab): for benchmarks in package pubsub_test.
func RecordContexts(n int) (func(context.Context, *kgo.Record) context.Context, *Message) {
	var block []recordCtx
	return func(ctx context.Context, rec *kgo.Record) context.Context {
		if len(block) == 0 {
			block = make([]recordCtx, n)
		}
		c := &block[0]
		block = block[1:]
		c.Init(ctx, rec)
		return c
	}, &Message{slab: new(ctxSlab)}
}

package pubsub

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkPartition measures the router's own cost per record: dispatch
// to the workers, a no-op handler call, and the completion bookkeeping,
// with no broker. Batches of 4096 records over 1000 keys.
func BenchmarkPartition(b *testing.B) {
	const batch, keys = 4096, 1000
	var recs []*kgo.Record
	for i := range batch {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%keys), Value: make([]byte, 100), Offset: int64(i)})
	}
	for _, workers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			r, err := NewRouter(RouterConfig{Brokers: []string{"x"}, Group: "g", Workers: workers, MaxPending: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			var n, target atomic.Int64
			done := make(chan struct{}, 1)
			p := newPartition(r, topicPartition{"t", 0}, func(context.Context, *Message) error {
				if n.Add(1) == target.Load() {
					done <- struct{}{}
				}
				return nil
			}, attemptRecord{mark: -1}, -1)
			defer func() { p.stop(); p.wg.Wait() }()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				target.Store(int64((i + 1) * batch))
				p.dispatch(recs, 0)
				<-done
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/rec")
		})
	}
}

// TestCommitOffsetAcrossBatches: the commit offset stops at the lowest
// record not handled, within a batch and across batches, whatever order
// the records are handled in.
func TestCommitOffsetAcrossBatches(t *testing.T) {
	r, err := NewRouter(RouterConfig{Brokers: []string{"x"}, Group: "g", Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := &partition{r: r}
	p.mu.next = kgo.EpochOffset{Epoch: -1, Offset: -1}
	p.mu.committed = -1
	p.mu.first, p.mu.mark = -1, -1
	mk := func(from, n int) *batch {
		b := &batch{done: make([]atomic.Uint64, (n+63)/64)}
		for i := range n {
			b.recs = append(b.recs, &kgo.Record{Offset: int64(from + i)})
		}
		b.left.Store(int64(n))
		p.mu.batches = append(p.mu.batches, b)
		return b
	}
	b1, b2 := mk(0, 100), mk(100, 70)
	done := func(b *batch, is ...int32) {
		for _, i := range is {
			b.setDone(i)
			b.left.Add(-1)
		}
	}
	check := func(want int64) {
		t.Helper()
		eo, meta, ok := p.maybeCommitOffset(false)
		if want < 0 && ok || want >= 0 && eo.Offset != want {
			t.Fatalf("commit offset %d (%v), want %d", eo.Offset, ok, want)
		}
		if ok {
			p.setCommitted(eo.Offset, meta)
		}
	}
	check(-1)
	done(b2, 0, 1, 2)
	check(-1)
	done(b1, 1, 2, 3)
	check(-1) // record 0 is not handled
	done(b1, 0)
	check(4)
	for i := int32(4); i < 100; i++ {
		if i != 70 {
			done(b1, i)
		}
	}
	check(70) // crosses a bitmap word
	done(b1, 70)
	check(103) // into the second batch
	if len(p.mu.batches) != 1 {
		t.Fatalf("%d batches kept, want 1", len(p.mu.batches))
	}
	for i := int32(3); i < 70; i++ {
		done(b2, i)
	}
	check(170)
	if len(p.mu.batches) != 0 {
		t.Fatalf("%d batches kept, want 0", len(p.mu.batches))
	}
}

// keyHash is fixed across processes; TestCommitLowestUnfinished relies on
// where its keys land.
func TestKeyHashFixed(t *testing.T) {
	for key, want := range map[string]uint64{"stuck": 11, "a": 12, "b": 5, "c": 2} {
		if got := keyHash([]byte(key)) % 16; got != want {
			t.Errorf("key %q on worker %d of 16, want %d", key, got, want)
		}
	}
}

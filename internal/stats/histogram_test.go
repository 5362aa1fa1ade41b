package stats

import (
	"sync"
	"testing"
)

func TestHistogramBuckets(t *testing.T) {
	h := NewHistogram([]int64{10, 20, 30})
	for _, v := range []int64{1, 10, 11, 20, 25, 31, 1000} {
		h.Observe(v)
	}
	s := h.Snapshot()
	if s.Count != 7 || s.Sum != 1+10+11+20+25+31+1000 {
		t.Fatalf("count %d sum %d", s.Count, s.Sum)
	}
	want := []uint64{2, 4, 5}
	for i, w := range want {
		if s.Cumulative[i] != w {
			t.Errorf("bucket <= %d: %d, want %d", s.Bounds[i], s.Cumulative[i], w)
		}
	}
}

func TestHistogramConcurrent(t *testing.T) {
	h := NewHistogram(LatencyBounds)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				h.Observe(int64(i) * 1000)
			}
		}()
	}
	wg.Wait()
	if s := h.Snapshot(); s.Count != 4000 || s.Cumulative[len(s.Cumulative)-1] != 4000 {
		t.Fatalf("count %d, last bucket %d", s.Count, s.Cumulative[len(s.Cumulative)-1])
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := NewHistogram(LatencyBounds)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.Observe(int64(i & 0xfffff))
	}
}

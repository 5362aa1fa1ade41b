package stats

import (
	"sync/atomic"
	"time"
)

// LatencyBounds are the bucket upper bounds, in nanoseconds, of request
// and fsync latencies: 50µs to 10s, about ×2.5 apart.
var LatencyBounds = []int64{
	50e3, 100e3, 250e3, 500e3, 1e6, 2.5e6, 5e6, 10e6, 25e6, 50e6, 100e6, 250e6, 500e6, 1e9, 2.5e9, 10e9,
}

// CountBounds are the bucket upper bounds of small counts such as the
// appends one group-commit sync covers.
var CountBounds = []int64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}

// Histogram counts observations into fixed buckets. The zero value is not
// usable; NewHistogram makes one.
type Histogram struct {
	bounds []int64 // sorted upper bounds; read-only
	// counts[i] counts observations v with bounds[i-1] < v <= bounds[i];
	// counts[len(bounds)] those above the last bound.
	counts []atomic.Uint64
	count  atomic.Uint64
	sum    atomic.Int64
}

// NewHistogram returns a histogram with the given sorted upper bounds. The
// slice is kept and must not change.
func NewHistogram(bounds []int64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe counts v. It does not allocate or lock.
func (h *Histogram) Observe(v int64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(v)
	h.count.Add(1)
}

// ObserveSince counts the nanoseconds since start.
func (h *Histogram) ObserveSince(start time.Time) { h.Observe(int64(time.Since(start))) }

// Snapshot is a histogram's state at one moment.
type Snapshot struct {
	Count uint64
	Sum   int64
	// Bounds are the upper bounds; Cumulative[i] counts observations
	// <= Bounds[i] (Prometheus's cumulative buckets).
	Bounds     []int64
	Cumulative []uint64
}

// Snapshot reads the histogram. The returned slices are the caller's,
// except Bounds, which is shared and read-only.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Count: h.count.Load(), Sum: h.sum.Load(), Bounds: h.bounds, Cumulative: make([]uint64, len(h.bounds))}
	var run uint64
	for i := range h.bounds {
		run += h.counts[i].Load()
		s.Cumulative[i] = run
	}
	return s
}

// Package stats holds the broker's hot-path counters: lock-free histograms
// that the code being measured updates with a few atomic adds and that a
// Prometheus collector (internal/metrics) reads at scrape time. It has no
// dependencies, so the storage engine and the protocol server can import
// it without pulling in the Prometheus client.
//
//	h := stats.NewHistogram(stats.LatencyBounds) // bounds in nanoseconds
//	start := time.Now()
//	...
//	h.ObserveSince(start)
//	s := h.Snapshot() // cumulative counts per bound, for exposition
//
// Thread safety: every method may be called concurrently. A Snapshot taken
// while observations run may count an observation in Count and not yet in
// its bucket (or the other way round); Prometheus tolerates that skew.
package stats

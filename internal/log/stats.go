package log

import (
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/stats"
)

// Stats counts the storage engine's syncs, shared by every log opened with
// it (Options.Stats): the broker passes one to all its partitions and the
// metrics collector reads it at scrape time. Updating it costs the syncing
// goroutine a few atomic adds per fdatasync, never an append.
type Stats struct {
	// SyncLatency is the duration of every group-commit fdatasync, in
	// nanoseconds.
	SyncLatency *stats.Histogram
	// SyncBatch is the number of appends each group-commit sync made
	// durable (1 when producers wait one at a time).
	SyncBatch *stats.Histogram
	// SyncErrors counts failed syncs.
	SyncErrors atomic.Uint64
}

// NewStats returns empty Stats.
func NewStats() *Stats {
	return &Stats{SyncLatency: stats.NewHistogram(stats.LatencyBounds), SyncBatch: stats.NewHistogram(stats.CountBounds)}
}

// observeSync counts one group-commit sync of appends appends that took
// since start. s may be nil.
func (s *Stats) observeSync(start time.Time, appends uint64, err error) {
	if s == nil {
		return
	}
	if err != nil {
		s.SyncErrors.Add(1)
		return
	}
	s.SyncLatency.ObserveSince(start)
	s.SyncBatch.Observe(int64(appends))
}

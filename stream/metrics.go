package stream

import "sort"

// TaskMetrics are one task's counters since it started on this instance.
type TaskMetrics struct {
	Task       string // "<subtopology>_<partition>"
	RecordsIn  int64  // records consumed
	RecordsOut int64  // records produced to sink topics
	Skipped    int64  // undecodable records skipped (SkipUndecodable)
	Late       int64  // records dropped as later than their window's grace
	Restored   int64  // changelog records restored into its stores
	Lag        int64  // records behind the high watermarks, at the last fetch
	// PartialsDropped counts partial pattern matches dropped over
	// Pattern.MaxPartials.
	PartialsDropped int64
}

// Metrics returns the counters of the tasks running on this instance,
// sorted by task.
func (a *App) Metrics() []TaskMetrics {
	a.mu.Lock()
	out := make([]TaskMetrics, 0, len(a.tasks))
	for id, tk := range a.tasks {
		m := &tk.metrics
		out = append(out, TaskMetrics{Task: id.String(), RecordsIn: m.in.Load(), RecordsOut: m.out.Load(),
			Skipped: m.skipped.Load(), Late: m.late.Load(), Restored: m.restored.Load(), Lag: m.lag.Load(), PartialsDropped: m.partialsDropped.Load()})
	}
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Task < out[j].Task })
	return out
}

package stream

import (
	"sort"
	"time"
)

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
	// Punctuations counts punctuator runs (Punctuate); PunctuateMax is
	// the longest and PunctuateTotal their sum (the mean latency is
	// PunctuateTotal / Punctuations).
	Punctuations                 int64
	PunctuateMax, PunctuateTotal time.Duration
}

// Metrics returns the counters of the tasks running on this instance,
// sorted by task.
func (a *App) Metrics() []TaskMetrics {
	a.mu.Lock()
	out := make([]TaskMetrics, 0, len(a.tasks))
	for id, tk := range a.tasks {
		m := &tk.metrics
		out = append(out, TaskMetrics{Task: id.String(), RecordsIn: m.in.Load(), RecordsOut: m.out.Load(),
			Skipped: m.skipped.Load(), Late: m.late.Load(), Restored: m.restored.Load(), Lag: m.lag.Load(), PartialsDropped: m.partialsDropped.Load(),
			Punctuations: m.punctuations.Load(), PunctuateMax: time.Duration(m.punctuateMax.Load()), PunctuateTotal: time.Duration(m.punctuateTotal.Load())})
	}
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Task < out[j].Task })
	return out
}

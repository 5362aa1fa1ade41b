package stream

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns the App's metrics for Prometheus: each task's
// counters (App.Metrics), labelled by app (the AppID), subtopology and
// partition, and each store partition's restore (App.RestoreProgress),
// labelled also by store. Register it on the registry the service
// exposes:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(app.Collector())
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// A task's counters start at zero when the task starts on this instance
// (a rebalance that moves it away and back resets them, which rate()
// takes as a counter reset). Collecting takes a snapshot: it does not
// wait for the tasks' goroutine.
//
//	herald_stream_records_in_total              counter   records consumed
//	herald_stream_records_out_total             counter   records produced to sink topics
//	herald_stream_records_skipped_total         counter   undecodable records skipped
//	herald_stream_late_records_dropped_total    counter   records later than their window's grace
//	herald_stream_partial_matches_dropped_total counter   partial pattern matches over MaxPartials
//	herald_stream_restored_records_total        counter   changelog records restored into the task's stores
//	herald_stream_lag_records                   gauge     records behind the high watermarks, at the last fetch
//	herald_stream_punctuation_duration_seconds  histogram punctuator run time
//	herald_stream_restore_records_restored      gauge     records applied by the store's running or last restore
//	herald_stream_restore_records_to_restore    gauge     changelog offsets it has to read (an upper bound of records)
//	herald_stream_restore_active                gauge     1 while the restore runs
func (a *App) Collector() prometheus.Collector { return &collector{a: a} }

var (
	taskLabels  = []string{"app", "subtopology", "partition"}
	storeLabels = []string{"app", "subtopology", "partition", "store"}

	descIn       = promDesc("records_in_total", "Records the task consumed since it started on this instance.", taskLabels)
	descOut      = promDesc("records_out_total", "Records the task produced to sink topics since it started on this instance.", taskLabels)
	descSkipped  = promDesc("records_skipped_total", "Undecodable records the task skipped (SkipUndecodable).", taskLabels)
	descLate     = promDesc("late_records_dropped_total", "Records the task dropped as later than their window's grace.", taskLabels)
	descPartials = promDesc("partial_matches_dropped_total", "Partial pattern matches the task dropped over Pattern.MaxPartials.", taskLabels)
	descRestored = promDesc("restored_records_total", "Changelog records restored into the task's stores on this instance.", taskLabels)
	descLag      = promDesc("lag_records", "Records the task is behind its source partitions' high watermarks, at its last fetch.", taskLabels)
	descPunct    = promDesc("punctuation_duration_seconds", "Time each punctuator run of the task took.", taskLabels)

	descRestoreDone   = promDesc("restore_records_restored", "Changelog records applied by the store partition's running or last restore.", storeLabels)
	descRestoreTo     = promDesc("restore_records_to_restore", "Changelog offsets the store partition's running or last restore has to read: an upper bound of its records.", storeLabels)
	descRestoreActive = promDesc("restore_active", "1 while the store partition's restore runs, else 0.", storeLabels)
)

func promDesc(name, help string, labels []string) *prometheus.Desc {
	return prometheus.NewDesc("herald_stream_"+name, help, labels, nil)
}

type collector struct{ a *App }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIn, descOut, descSkipped, descLate, descPartials, descRestored,
		descLag, descPunct, descRestoreDone, descRestoreTo, descRestoreActive} {
		ch <- d
	}
}

// taskSnapshot is one task's metrics read under the App's lock, emitted
// after it.
type taskSnapshot struct {
	sub, part                                       string
	in, out, skipped, late, partials, restored, lag int64
	punctN                                          uint64
	punctSum                                        float64
	buckets                                         map[float64]uint64 // cumulative
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	app := c.a.cfg.AppID
	for _, s := range c.snapshot() {
		lv := []string{app, s.sub, s.part}
		for _, m := range []struct {
			d *prometheus.Desc
			v int64
		}{{descIn, s.in}, {descOut, s.out}, {descSkipped, s.skipped}, {descLate, s.late}, {descPartials, s.partials}, {descRestored, s.restored}} {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v), lv...)
		}
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(s.lag), lv...)
		ch <- prometheus.MustNewConstHistogram(descPunct, s.punctN, s.punctSum, s.buckets, lv...)
	}
	for _, p := range c.a.RestoreProgress() {
		sub, part, _ := strings.Cut(p.Task, "_") // taskID.String
		lv := []string{app, sub, part, p.Store}
		active := 1.0
		if p.Done {
			active = 0
		}
		ch <- prometheus.MustNewConstMetric(descRestoreDone, prometheus.GaugeValue, float64(p.Restored), lv...)
		ch <- prometheus.MustNewConstMetric(descRestoreTo, prometheus.GaugeValue, float64(p.To-p.From), lv...)
		ch <- prometheus.MustNewConstMetric(descRestoreActive, prometheus.GaugeValue, active, lv...)
	}
}

func (c *collector) snapshot() []taskSnapshot {
	a := c.a
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]taskSnapshot, 0, len(a.tasks))
	for id, tk := range a.tasks {
		m := &tk.metrics
		s := taskSnapshot{sub: strconv.Itoa(id.sub), part: strconv.Itoa(int(id.partition)),
			in: m.in.Load(), out: m.out.Load(), skipped: m.skipped.Load(), late: m.late.Load(),
			partials: m.partialsDropped.Load(), restored: m.restored.Load(), lag: m.lag.Load(),
			punctSum: float64(m.punctuateTotal.Load()) / 1e9, buckets: make(map[float64]uint64, len(punctuateBounds))}
		var cum uint64
		for i, ub := range punctuateBounds {
			cum += uint64(m.punctuateBuckets[i].Load())
			s.buckets[ub] = cum
		}
		// The count is the buckets' (with the runs over the last bound),
		// so that it agrees with them whatever runs meanwhile.
		s.punctN = cum + uint64(m.punctuateBuckets[len(punctuateBounds)].Load())
		out = append(out, s)
	}
	return out
}

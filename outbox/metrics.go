package outbox

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats is an outbox table's backlog.
type Stats struct {
	Pending int64     // rows not yet published (claimed ones too)
	Oldest  time.Time // when the oldest of them was written; zero if none
}

// StatsStore is a Store that reports its backlog; both SQL stores do.
type StatsStore interface {
	Store
	Stats(ctx context.Context) (Stats, error)
}

// Metrics are a relay's Prometheus metrics:
//
//	herald_outbox_pending_rows            rows waiting to be published
//	herald_outbox_oldest_row_age_seconds  age of the oldest of them; 0 if none
//	herald_outbox_publish_seconds         time to publish one round's rows (until acked)
//	herald_outbox_published_total         rows published
//	herald_outbox_publish_failed_total    rows whose publish failed (retried later)
//
// The backlog gauges are set after every round, from the store's Stats
// when the store is a StatsStore.
type Metrics struct {
	pending, oldest   prometheus.Gauge
	publish           prometheus.Histogram
	published, failed prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		pending:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "herald_outbox_pending_rows", Help: "Outbox rows waiting to be published."}),
		oldest:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "herald_outbox_oldest_row_age_seconds", Help: "Age of the oldest unpublished outbox row; 0 if none."}),
		publish:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: "herald_outbox_publish_seconds", Help: "Time to publish one relay round's rows, until acknowledged.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9)}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_outbox_published_total", Help: "Outbox rows published."}),
		failed:    prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_outbox_publish_failed_total", Help: "Outbox rows whose publish failed."}),
	}
	for _, c := range []prometheus.Collector{m.pending, m.oldest, m.publish, m.published, m.failed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observeBacklog sets the backlog gauges from the store, if it tells.
func (r *Relay) observeBacklog(ctx context.Context) {
	ss, ok := r.store.(StatsStore)
	if r.cfg.Metrics == nil || !ok {
		return
	}
	st, err := ss.Stats(ctx)
	if err != nil {
		r.cfg.Logger.Warn("outbox: backlog stats failed", "relay", r.cfg.ID, "err", err)
		return
	}
	r.cfg.Metrics.pending.Set(float64(st.Pending))
	age := 0.0
	if !st.Oldest.IsZero() {
		age = max(time.Since(st.Oldest).Seconds(), 0)
	}
	r.cfg.Metrics.oldest.Set(age)
}

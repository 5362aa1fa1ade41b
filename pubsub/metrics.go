package pubsub

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the router's Prometheus metrics, labelled by topic:
//
//	herald_pubsub_handled_total        attempts that succeeded and took effect
//	herald_pubsub_failed_total         attempts that failed
//	herald_pubsub_retried_total        attempts after the first
//	herald_pubsub_skipped_total        messages acknowledged unhandled (no handler for the type)
//	herald_pubsub_deduplicated_total   duplicates acknowledged without running the handler
//	herald_pubsub_dead_lettered_total  messages sent to the dead-letter topic (or dropped, without one)
//	herald_pubsub_in_flight            handler attempts running now
//	herald_pubsub_handle_seconds       handler latency, sampled (below)
//	herald_pubsub_lag                  records after the committed offset (also by partition)
//
// Skipped and deduplicated messages are not counted as handled. The
// latency histogram times first attempts of records whose offset is a
// multiple of 8, and every retry: reading the clock twice per message
// costs more than the rest of the router's work on some virtual machines
// (a clock read takes 250ns on kvm-clock without a usable TSC), and a
// sample of one in eight gives the same distribution. Its _count is the
// number of timed attempts; the counters count them all. Set
// RouterConfig.Metrics and the router records all of them: it adds
// Middleware outermost, counts dead letters, and keeps the lag gauge at
// the partition's high watermark minus its committed offset (what
// kadm.Lag computes from the broker), updated at every fetch and commit,
// and removed when the partition leaves the router. Without
// RouterConfig.Metrics, Middleware alone records the per-attempt metrics.
//
// Metrics are registered with the registerer given to NewMetrics, never
// the global default unless that is what is passed. One Metrics may serve
// several routers of a process; as the metrics have no group label, give
// routers of different groups that read one topic a Metrics each (on
// registries of their own, or wrapped with prometheus.WrapRegistererWith
// a group label).
type Metrics struct {
	handled, failed, retried, skipped, deduplicated, deadLettered *prometheus.CounterVec
	inFlight                                                      *inFlight
	latency                                                       *prometheus.HistogramVec
	lag                                                           *prometheus.GaugeVec

	mu      sync.Mutex
	byTopic map[string]*topicMetrics // guarded by mu
}

// topicMetrics are one topic's metrics, bound to their label once so that
// a message costs no label lookup.
type topicMetrics struct {
	topic                                                         string
	handled, failed, retried, skipped, deduplicated, deadLettered prometheus.Counter
	inFlight                                                      *atomic.Int64
	latency                                                       prometheus.Observer
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"topic"})
	}
	m := &Metrics{
		handled:      counter("herald_pubsub_handled_total", "Handler attempts that succeeded and took effect."),
		failed:       counter("herald_pubsub_failed_total", "Handler attempts that failed."),
		retried:      counter("herald_pubsub_retried_total", "Handler attempts after the first."),
		skipped:      counter("herald_pubsub_skipped_total", "Messages acknowledged without a handler for their type."),
		deduplicated: counter("herald_pubsub_deduplicated_total", "Duplicate messages acknowledged without running the handler."),
		deadLettered: counter("herald_pubsub_dead_lettered_total", "Messages sent to the dead-letter topic, or dropped without one."),
		inFlight:     newInFlight(),
		latency:      prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "herald_pubsub_handle_seconds", Help: "Handler latency.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, []string{"topic"}),
		lag:          prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "herald_pubsub_lag", Help: "Records after the committed offset of the partition."}, []string{"topic", "partition"}),
		byTopic:      make(map[string]*topicMetrics),
	}
	for _, c := range []prometheus.Collector{m.handled, m.failed, m.retried, m.skipped, m.deduplicated, m.deadLettered, m.inFlight, m.latency, m.lag} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// forTopic returns topic's bound metrics.
func (mt *Metrics) forTopic(topic string) *topicMetrics {
	mt.mu.Lock()
	defer mt.mu.Unlock()
	if t := mt.byTopic[topic]; t != nil {
		return t
	}
	t := &topicMetrics{
		topic:        topic,
		handled:      mt.handled.WithLabelValues(topic),
		failed:       mt.failed.WithLabelValues(topic),
		retried:      mt.retried.WithLabelValues(topic),
		skipped:      mt.skipped.WithLabelValues(topic),
		deduplicated: mt.deduplicated.WithLabelValues(topic),
		deadLettered: mt.deadLettered.WithLabelValues(topic),
		inFlight:     mt.inFlight.of(topic),
		latency:      mt.latency.WithLabelValues(topic),
	}
	mt.byTopic[topic] = t
	return t
}

// Middleware records the metrics of every attempt: in-flight, latency,
// and the attempt's end (handled, skipped, deduplicated, failed;
// retried for attempts after the first). The router adds it itself when
// RouterConfig.Metrics is set; do not add it again then.
func (mt *Metrics) Middleware() Middleware {
	return func(next Handler) Handler {
		var last atomic.Pointer[topicMetrics] // the handler's topic, usually one
		return func(ctx context.Context, m *Message) error {
			t := last.Load()
			if t == nil || t.topic != m.Record.Topic {
				t = mt.forTopic(m.Record.Topic)
				last.Store(t)
			}
			if m.Attempt > 1 {
				t.retried.Inc()
			}
			t.inFlight.Add(1)
			timed := m.Attempt > 1 || m.Record.Offset%latencyEvery == 0
			var start time.Time
			if timed {
				start = time.Now()
			}
			err := next(ctx, m)
			if timed {
				t.latency.Observe(time.Since(start).Seconds())
			}
			t.inFlight.Add(-1)
			switch {
			case err != nil:
				t.failed.Inc()
			case m.outcome == Skipped:
				t.skipped.Inc()
			case m.outcome == Deduplicated:
				t.deduplicated.Inc()
			default:
				t.handled.Inc()
			}
			return err
		}
	}
}

// lagGauge returns the lag gauge of a partition.
func (mt *Metrics) lagGauge(tp topicPartition) prometheus.Gauge {
	return mt.lag.WithLabelValues(tp.topic, strconv.Itoa(int(tp.partition)))
}

// dropLag removes a partition's lag gauge, when the router gives it up.
func (mt *Metrics) dropLag(tp topicPartition) {
	mt.lag.DeleteLabelValues(tp.topic, strconv.Itoa(int(tp.partition)))
}

// latencyEvery: first attempts at offsets that are multiples of it are
// timed.
const latencyEvery = 8

// inFlight is the in-flight gauge: a plain atomic counter per topic,
// read at collection, which costs a message two atomic adds rather than
// two compare-and-swap loops on a float shared by every worker.
type inFlight struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	n    map[string]*atomic.Int64 // by topic; guarded by mu
}

func newInFlight() *inFlight {
	return &inFlight{
		desc: prometheus.NewDesc("herald_pubsub_in_flight", "Handler attempts running.", []string{"topic"}, nil),
		n:    make(map[string]*atomic.Int64),
	}
}

func (f *inFlight) of(topic string) *atomic.Int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.n[topic]
	if n == nil {
		n = new(atomic.Int64)
		f.n[topic] = n
	}
	return n
}

// Describe implements prometheus.Collector.
func (f *inFlight) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

// Collect implements prometheus.Collector.
func (f *inFlight) Collect(ch chan<- prometheus.Metric) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for topic, n := range f.n {
		ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, float64(n.Load()), topic)
	}
}

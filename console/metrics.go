package console

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
)

// The console's own metrics: its HTTP requests always, and, when it runs
// without Config.Metrics (herald console in front of any cluster), what
// its sampler reads of the cluster every Config.SampleInterval and the Go
// runtime's and the process's. A scrape sends the cluster no request: the
// cluster series are the last sample's.
var (
	descEndOffset = prometheus.NewDesc("herald_console_partition_end_offset",
		"The partition's end offset (high watermark) at the console's last sample.", []string{"topic", "partition"}, nil)
	descGroupLag = prometheus.NewDesc("herald_console_group_lag_records",
		"Records between the group's committed offset and the partition's end at the console's last sample.", []string{"group", "topic", "partition"}, nil)
	descGroupCommitted = prometheus.NewDesc("herald_console_group_committed_offset",
		"The group's committed offset at the console's last sample.", []string{"group", "topic", "partition"}, nil)
	descSampleTime = prometheus.NewDesc("herald_console_cluster_sample_timestamp_seconds",
		"When the console last read the cluster's offsets and lag (Unix time); 0 before the first sample.", nil, nil)
	descSampleUp = prometheus.NewDesc("herald_console_cluster_up",
		"1 if the console's last sample of the cluster succeeded, else 0.", nil, nil)
)

// httpMetrics counts and times the console's HTTP requests by route (the
// pattern that served them, so a label per page, not per topic).
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics() *httpMetrics {
	return &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_console_http_requests_total",
			Help: "HTTP requests the console answered, by route, method and status code."}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "herald_console_http_request_duration_seconds",
			Help:    "Time the console took to answer an HTTP request (an event stream: until it ended), by route and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"route", "method"}),
	}
}

// statusWriter remembers the status an answer was given.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and the deadlines (the
// event streams need them).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush flushes the event streams' writes.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// observe serves r with h and counts it under route.
func (m *httpMetrics) observe(route string, h http.Handler, w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		code := sw.status
		if code == 0 {
			code = http.StatusOK
		}
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(code)).Inc()
		m.duration.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
	}()
	h.ServeHTTP(sw, r)
}

// clusterSample is what the sampler last read of the cluster, for
// /metrics.
type clusterSample struct {
	at   time.Time
	ok   bool
	ends kadm.ListedOffsets      // nil unless read (no Config.Metrics)
	lags kadm.DescribedGroupLags // the sampled groups'
}

// clusterCollector reports the console's last sample of the cluster.
type clusterCollector struct{ c *Console }

func (cc clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descEndOffset
	ch <- descGroupLag
	ch <- descGroupCommitted
	ch <- descSampleTime
	ch <- descSampleUp
}

func (cc clusterCollector) Collect(ch chan<- prometheus.Metric) {
	h := cc.c.hist
	h.mu.Lock()
	s := h.mu.cluster
	h.mu.Unlock()
	at, up := 0.0, 0.0
	if !s.at.IsZero() {
		at = float64(s.at.UnixNano()) / 1e9
	}
	if s.ok {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descSampleTime, prometheus.GaugeValue, at)
	ch <- prometheus.MustNewConstMetric(descSampleUp, prometheus.GaugeValue, up)
	s.ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			ch <- prometheus.MustNewConstMetric(descEndOffset, prometheus.GaugeValue, float64(o.Offset), o.Topic, strconv.Itoa(int(o.Partition)))
		}
	})
	for g, l := range s.lags {
		for _, m := range l.Lag.Sorted() {
			if m.Err != nil || m.Lag < 0 {
				continue
			}
			p := strconv.Itoa(int(m.Partition))
			ch <- prometheus.MustNewConstMetric(descGroupLag, prometheus.GaugeValue, float64(m.Lag), g, m.Topic, p)
			ch <- prometheus.MustNewConstMetric(descGroupCommitted, prometheus.GaugeValue, float64(m.Commit.At), g, m.Topic, p)
		}
	}
}

// newMetrics returns what /metrics serves: Config.Metrics plus the
// console's HTTP metrics, or, without Config.Metrics, a registry of the
// console's own with its HTTP metrics, its last sample of the cluster and
// the Go runtime and process collectors.
func (c *Console) newMetrics() (prometheus.Gatherer, error) {
	reg := prometheus.NewRegistry()
	cs := []prometheus.Collector{c.httpm.requests, c.httpm.duration}
	if c.cfg.Metrics == nil {
		cs = append(cs, clusterCollector{c}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	for _, col := range cs {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	if c.cfg.Metrics == nil {
		return reg, nil
	}
	return prometheus.Gatherers{c.cfg.Metrics, reg}, nil
}

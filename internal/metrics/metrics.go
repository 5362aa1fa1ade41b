package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/group"
	"github.com/heraldhq/herald/internal/kafka"
	"github.com/heraldhq/herald/internal/stats"
)

// DefaultMaxLagSeries bounds the herald_group_lag_records series one
// scrape reports (groups × partitions), so that a broker with many groups
// keeps scrapes cheap; groups past it are left out and counted in
// herald_group_lag_truncated.
const DefaultMaxLagSeries = 10000

// Sources are what the collector reads. Broker is required; a nil Kafka
// or Groups leaves their metrics out.
type Sources struct {
	Broker *broker.Broker
	Kafka  *kafka.Server
	Groups *group.Coordinator
	// MaxLagSeries bounds the lag series; default DefaultMaxLagSeries.
	MaxLagSeries int
}

// Collector is a prometheus.Collector that reads the broker's counters at
// scrape time. It is safe for concurrent scrapes.
type Collector struct {
	src Sources
}

// New returns a Collector over src.
func New(src Sources) *Collector {
	if src.MaxLagSeries <= 0 {
		src.MaxLagSeries = DefaultMaxLagSeries
	}
	return &Collector{src: src}
}

// NewRegistry returns a registry of its own (no global state) holding a
// Collector over src, the Go runtime and process collectors, and extra
// (the schema registry's).
func NewRegistry(src Sources, extra ...prometheus.Collector) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	cs := append([]prometheus.Collector{New(src),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}, extra...)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The metrics. Names follow Prometheus conventions: herald_ prefix, base
// units (bytes, seconds) in the name, _total for counters.
var (
	tp                = []string{"topic", "partition"}
	descBytesIn       = desc("herald_partition_bytes_in_total", "Record batch bytes appended by producers.", tp...)
	descRecordsIn     = desc("herald_partition_records_in_total", "Records appended by producers.", tp...)
	descBytesOut      = desc("herald_partition_bytes_out_total", "Record batch bytes read by fetches.", tp...)
	descRecordsOut    = desc("herald_partition_records_out_total", "Records read by fetches.", tp...)
	descLogSize       = desc("herald_partition_log_size_bytes", "Bytes of the partition's log segments on disk.", tp...)
	descLogStart      = desc("herald_partition_log_start_offset", "The partition's log start offset.", tp...)
	descHighWatermark = desc("herald_partition_high_watermark_offset", "The partition's high watermark.", tp...)
	descSegments      = desc("herald_partition_log_segments", "Segments of the partition's log.", tp...)

	descRequests = desc("herald_kafka_requests_total", "Kafka protocol requests answered, by API.", "api")
	descReqErrs  = desc("herald_kafka_request_errors_total", "Kafka protocol requests answered with an error code or that closed the connection, by API.", "api")
	descReqDur   = desc("herald_kafka_request_duration_seconds", "Time from a request read to its answer ready, by API.", "api")
	descConnOpen = desc("herald_connections_open", "Kafka protocol connections open.")
	descConnAll  = desc("herald_connections_accepted_total", "Kafka protocol connections accepted.")

	descFsync     = desc("herald_storage_fsync_duration_seconds", "Duration of group-commit fdatasyncs of partition logs.")
	descFsyncErrs = desc("herald_storage_fsync_errors_total", "Failed fdatasyncs of partition logs.")
	descBatch     = desc("herald_storage_group_commit_appends", "Appends made durable by one group-commit fdatasync.")

	descLag          = desc("herald_group_lag_records", "Records between a consumer group's committed offset and the partition's high watermark.", "group", "topic", "partition")
	descLagTruncated = desc("herald_group_lag_truncated", "1 when groups were left out of herald_group_lag_records to bound the scrape.")
	descGroups       = desc("herald_groups", "Consumer groups known to the coordinator.")
)

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBytesIn, descRecordsIn, descBytesOut, descRecordsOut, descLogSize, descLogStart,
		descHighWatermark, descSegments, descRequests, descReqErrs, descReqDur, descConnOpen, descConnAll,
		descFsync, descFsyncErrs, descBatch, descLag, descLagTruncated, descGroups} {
		ch <- d
	}
}

// Collect reads every counter. Its cost is one pass over the partitions,
// the API table, and the lag of at most MaxLagSeries partitions.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.collectPartitions(ch)
	c.collectStorage(ch)
	if c.src.Kafka != nil {
		c.collectRequests(ch)
	}
	if c.src.Groups != nil {
		c.collectLag(ch)
	}
}

func counter(d *prometheus.Desc, v uint64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(d *prometheus.Desc, v int64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
}

func (c *Collector) collectPartitions(ch chan<- prometheus.Metric) {
	for _, t := range c.src.Broker.Topics() {
		for _, p := range t.Partitions() {
			l := []string{t.Name, strconv.Itoa(int(p.Index))}
			tr := p.Traffic()
			ch <- counter(descBytesIn, tr.BytesIn, l...)
			ch <- counter(descRecordsIn, tr.RecordsIn, l...)
			ch <- counter(descBytesOut, tr.BytesOut, l...)
			ch <- counter(descRecordsOut, tr.RecordsOut, l...)
			ch <- gauge(descLogSize, p.Size(), l...)
			ch <- gauge(descLogStart, p.LogStartOffset(), l...)
			ch <- gauge(descHighWatermark, p.HighWatermark(), l...)
			ch <- gauge(descSegments, int64(p.Segments()), l...)
		}
	}
}

// histogram turns a stats snapshot into a Prometheus histogram; scale
// converts its unit (1e-9 for nanoseconds to seconds).
func histogram(d *prometheus.Desc, s stats.Snapshot, scale float64, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(s.Bounds))
	for i, b := range s.Bounds {
		buckets[float64(b)*scale] = s.Cumulative[i]
	}
	return prometheus.MustNewConstHistogram(d, s.Count, float64(s.Sum)*scale, buckets, labels...)
}

func (c *Collector) collectStorage(ch chan<- prometheus.Metric) {
	st := c.src.Broker.StorageStats()
	ch <- histogram(descFsync, st.SyncLatency.Snapshot(), 1e-9)
	ch <- histogram(descBatch, st.SyncBatch.Snapshot(), 1)
	ch <- counter(descFsyncErrs, st.SyncErrors.Load())
}

func (c *Collector) collectRequests(ch chan<- prometheus.Metric) {
	apis, accepted, open := c.src.Kafka.RequestStats()
	for _, a := range apis {
		ch <- counter(descRequests, a.Requests, a.Name)
		ch <- counter(descReqErrs, a.Errors, a.Name)
		ch <- histogram(descReqDur, a.Latency, 1e-9, a.Name)
	}
	ch <- gauge(descConnOpen, open)
	ch <- counter(descConnAll, accepted)
}

// collectLag reports each group's lag per partition, computed now from
// committed offsets and high watermarks, up to MaxLagSeries series.
func (c *Collector) collectLag(ch chan<- prometheus.Metric) {
	groups := c.src.Groups.List()
	ch <- gauge(descGroups, int64(len(groups)))
	n, truncated := 0, int64(0)
	for _, g := range groups {
		lags, ok := c.src.Groups.Lag(g.ID)
		if !ok {
			continue
		}
		if n+len(lags) > c.src.MaxLagSeries {
			truncated = 1
			break
		}
		n += len(lags)
		for _, l := range lags {
			ch <- gauge(descLag, l.Lag, g.ID, l.Topic, strconv.Itoa(int(l.Partition)))
		}
	}
	ch <- gauge(descLagTruncated, truncated)
}

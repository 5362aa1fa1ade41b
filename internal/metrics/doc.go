// Package metrics is the broker's Prometheus collector: a pull collector
// that reads the counters the hot paths keep in atomics (internal/stats
// histograms, broker.Partition.Traffic, kafka.Server.RequestStats,
// log.Stats) at scrape time, so that producing and fetching never touch a
// Prometheus type, a map or a lock for metrics.
//
//	reg, err := metrics.NewRegistry(metrics.Sources{Broker: b, Kafka: k, Groups: g}, registryServer.Collector())
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// `herald serve` serves it at /metrics on its HTTP listener
// (internal/server.Server.Metrics, console.Config.Metrics). The metrics:
//
//	herald_partition_bytes_in_total{topic,partition}      counter  batch bytes appended by producers
//	herald_partition_records_in_total{topic,partition}    counter  records appended by producers
//	herald_partition_bytes_out_total{topic,partition}     counter  batch bytes read by fetches
//	herald_partition_records_out_total{topic,partition}   counter  records read by fetches
//	herald_partition_log_size_bytes{topic,partition}      gauge
//	herald_partition_log_start_offset{topic,partition}    gauge
//	herald_partition_high_watermark_offset{topic,partition} gauge
//	herald_partition_log_segments{topic,partition}        gauge
//	herald_kafka_requests_total{api}                      counter  requests answered
//	herald_kafka_request_errors_total{api}                counter  answered with an error code, or closed the connection
//	herald_kafka_request_duration_seconds{api}            histogram read to answer ready
//	herald_connections_open                               gauge
//	herald_connections_accepted_total                     counter
//	herald_storage_fsync_duration_seconds                 histogram group-commit fdatasyncs
//	herald_storage_group_commit_appends                   histogram appends one sync made durable
//	herald_storage_fsync_errors_total                     counter
//	herald_group_lag_records{group,topic,partition}       gauge    computed at scrape, at most MaxLagSeries series
//	herald_group_lag_truncated                            gauge    1 when groups were left out
//	herald_groups                                         gauge
//	herald_registry_requests_total{route,code}            counter  (registry.Server.Collector)
//	herald_registry_request_duration_seconds{route}       histogram
//
// plus the Go runtime's go_* and the process's process_* metrics. The
// collector holds no state: a scrape costs one pass over the partitions,
// the API key table, and the lag of at most MaxLagSeries partitions.
package metrics

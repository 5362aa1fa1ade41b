package pubsub

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Logging logs every attempt: Debug on success, Warn on failure.
func Logging(l *slog.Logger) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *Message) error {
			start := time.Now()
			err := next(ctx, m)
			attrs := []any{
				"topic", m.Record.Topic, "partition", m.Record.Partition, "offset", m.Record.Offset,
				"type", m.Event.Type, "id", m.Event.ID, "attempt", m.Attempt, "took", time.Since(start),
			}
			if err != nil {
				l.WarnContext(ctx, "pubsub: handler failed", append(attrs, "err", err)...)
			} else {
				l.DebugContext(ctx, "pubsub: handled", attrs...)
			}
			return err
		}
	}
}

// Metrics are the router's Prometheus metrics, labelled by topic:
//
//	herald_pubsub_handled_total   attempts that succeeded
//	herald_pubsub_failed_total    attempts that failed
//	herald_pubsub_retried_total   attempts after the first
//	herald_pubsub_handle_seconds  handler latency
//	herald_pubsub_lag             records behind the partition end (also by partition)
type Metrics struct {
	handled, failed, retried *prometheus.CounterVec
	latency                  *prometheus.HistogramVec
	lag                      *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_pubsub_handled_total", Help: "Handler attempts that succeeded."}, []string{"topic"}),
		failed:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_pubsub_failed_total", Help: "Handler attempts that failed."}, []string{"topic"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_pubsub_retried_total", Help: "Handler attempts after the first."}, []string{"topic"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "herald_pubsub_handle_seconds", Help: "Handler latency.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, []string{"topic"}),
		lag:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "herald_pubsub_lag", Help: "Records behind the partition end when fetched."}, []string{"topic", "partition"}),
	}
	for _, c := range []prometheus.Collector{m.handled, m.failed, m.retried, m.latency, m.lag} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Middleware records the metrics of every attempt.
func (mt *Metrics) Middleware() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *Message) error {
			topic := m.Record.Topic
			if m.Attempt > 1 {
				mt.retried.WithLabelValues(topic).Inc()
			}
			mt.lag.WithLabelValues(topic, strconv.Itoa(int(m.Record.Partition))).Set(float64(m.Lag()))
			start := time.Now()
			err := next(ctx, m)
			mt.latency.WithLabelValues(topic).Observe(time.Since(start).Seconds())
			if err != nil {
				mt.failed.WithLabelValues(topic).Inc()
			} else {
				mt.handled.WithLabelValues(topic).Inc()
			}
			return err
		}
	}
}

// Tracing continues the trace whose context the record's traceparent
// header carries (written by a Publisher) with a consumer span per
// attempt, and leaves the span in the handler's context, so events the
// handler publishes carry it on.
func Tracing(tp trace.TracerProvider, prop propagation.TextMapPropagator) Middleware {
	tracer := tp.Tracer("github.com/heraldhq/herald/pubsub")
	return func(next Handler) Handler {
		return func(ctx context.Context, m *Message) error {
			ctx = prop.Extract(ctx, HeaderCarrier{Headers: &m.Record.Headers})
			ctx, span := tracer.Start(ctx, m.Record.Topic+" process",
				trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(
					attribute.String("messaging.system", "kafka"),
					attribute.String("messaging.destination.name", m.Record.Topic),
					attribute.Int("messaging.destination.partition.id", int(m.Record.Partition)),
					attribute.Int64("messaging.kafka.offset", m.Record.Offset),
					attribute.String("messaging.message.id", m.Event.ID),
					attribute.String("messaging.consumer.group.name", m.Group),
					attribute.Int("herald.attempt", m.Attempt),
				))
			defer span.End()
			err := next(ctx, m)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			return err
		}
	}
}

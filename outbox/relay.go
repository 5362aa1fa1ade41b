package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/event"
)

// RelayConfig configures a Relay. Zero fields take the defaults noted.
type RelayConfig struct {
	// ID names the relay in claims; default a new UUIDv7. Relays must have
	// different ids.
	ID string
	// BatchSize is how many rows one round claims. Default 100.
	BatchSize int
	// PollInterval is the wait after a round that found nothing. Default
	// 200ms.
	PollInterval time.Duration
	// Logger receives errors of Run. Default slog.Default().
	Logger *slog.Logger
	// TracerProvider, if set, gives each published row a producer span
	// ("<topic> publish", OpenTelemetry messaging conventions), a child of
	// the trace context stored with the row, and the record carries the
	// span's context. Unset, the record carries the stored context as it
	// is.
	TracerProvider trace.TracerProvider
	// Metrics, if set, receives the relay's metrics (see Metrics).
	Metrics *Metrics
}

// Validate reports every problem with the config, joined.
func (c RelayConfig) Validate() error {
	var errs []error
	if c.BatchSize < 0 {
		errs = append(errs, errors.New("outbox: RelayConfig.BatchSize is negative"))
	}
	if c.PollInterval < 0 {
		errs = append(errs, errors.New("outbox: RelayConfig.PollInterval is negative"))
	}
	return errors.Join(errs...)
}

// Relay publishes outbox rows to Kafka and removes them.
//
// Each round claims a batch, publishes it (and waits for the acks), then
// removes the published rows. A relay that dies after publishing and
// before removing leaves its rows claimed; they go back to the pool (the
// PostgreSQL transaction rolls back, the SQLite lease runs out) and are
// published again: delivery is at least once, and consumers deduplicate by
// event id (see pubsub/dedup). Several relays may run on one table.
type Relay struct {
	store  Store
	cl     *kgo.Client
	cfg    RelayConfig
	tracer trace.Tracer // nil without a TracerProvider
}

// NewRelay returns a relay from s to the cluster cl talks to. The caller
// keeps ownership of cl.
func NewRelay(s Store, cl *kgo.Client, cfg RelayConfig) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ID == "" {
		cfg.ID = event.NewID()
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 100
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Relay{store: s, cl: cl, cfg: cfg}
	if cfg.TracerProvider != nil {
		r.tracer = cfg.TracerProvider.Tracer("github.com/heraldhq/herald/outbox")
	}
	return r, nil
}

// Run relays until ctx is cancelled, and returns nil then. Errors of a
// round are logged and the round is retried after PollInterval.
func (r *Relay) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		n, err := r.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			r.cfg.Logger.Error("outbox: relay round failed", "relay", r.cfg.ID, "err", err)
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(r.cfg.PollInterval):
		}
	}
	return nil
}

// RunOnce runs one round and returns how many rows it published and
// removed.
func (r *Relay) RunOnce(ctx context.Context) (int, error) {
	defer r.observeBacklog(context.WithoutCancel(ctx))
	b, err := r.store.Claim(ctx, r.cfg.ID, r.cfg.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("outbox: claim: %w", err)
	}
	msgs := b.Messages()
	published, perr := r.publish(ctx, msgs)
	if len(published) == 0 {
		return 0, errors.Join(perr, b.Release(context.WithoutCancel(ctx)))
	}
	// Past this point the rows are out; if Done fails they are published
	// again by a later round.
	if err := b.Done(context.WithoutCancel(ctx), published); err != nil {
		return 0, errors.Join(perr, fmt.Errorf("outbox: mark published: %w", err))
	}
	return len(published), perr
}

// publish produces msgs and returns the Seqs that may be removed: for each
// key, the rows before the first failure.
func (r *Relay) publish(ctx context.Context, msgs []Message) ([]int64, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	recs := make([]*kgo.Record, len(msgs))
	spans := make([]trace.Span, len(msgs))
	for i, m := range msgs {
		m, spans[i] = r.startSpan(ctx, m)
		recs[i] = m.Record()
	}
	t0 := time.Now()
	results := r.cl.ProduceSync(ctx, recs...)
	if mt := r.cfg.Metrics; mt != nil {
		mt.publish.Observe(time.Since(t0).Seconds())
		for _, res := range results {
			if res.Err != nil {
				mt.failed.Inc()
			} else {
				mt.published.Inc()
			}
		}
	}
	failedKey := map[string]bool{}
	var done []int64
	var errs []error
	for i, res := range results {
		endSpan(spans[i], res.Record, res.Err)
		key := msgs[i].Key
		if res.Err != nil {
			failedKey[key] = true
			errs = append(errs, fmt.Errorf("outbox: publish %s: %w", msgs[i].ID, res.Err))
			continue
		}
		if !failedKey[key] {
			done = append(done, msgs[i].Seq)
		}
	}
	return done, errors.Join(errs...)
}

// startSpan starts m's producer span, a child of m's stored trace context,
// and returns m carrying the span's context instead. Without a tracer it
// returns m and nil.
func (r *Relay) startSpan(ctx context.Context, m Message) (Message, trace.Span) {
	if r.tracer == nil {
		return m, nil
	}
	prop := propagation.TraceContext{}
	ctx = prop.Extract(ctx, propagation.MapCarrier{headerTraceParent: m.TraceParent, headerTraceState: m.TraceState})
	ctx, span := r.tracer.Start(ctx, m.Topic+" publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", m.Topic),
			attribute.String("messaging.message.id", m.ID),
			attribute.String("messaging.kafka.message.key", m.Key),
		))
	tc := propagation.MapCarrier{}
	prop.Inject(ctx, tc)
	m.TraceParent, m.TraceState = tc[headerTraceParent], tc[headerTraceState]
	return m, span
}

// endSpan ends a producer span (if any) with the outcome of its record.
func endSpan(span trace.Span, rec *kgo.Record, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else {
		span.SetAttributes(attribute.Int("messaging.destination.partition.id", int(rec.Partition)),
			attribute.Int64("messaging.kafka.offset", rec.Offset))
	}
	span.End()
}

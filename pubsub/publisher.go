package pubsub

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/event"
)

// ErrClosed is returned by a closed Publisher or Router.
var ErrClosed = errors.New("pubsub: closed")

// PublishError is the failure to publish one event.
type PublishError struct {
	Topic   string
	EventID string
	Err     error
}

func (e *PublishError) Error() string {
	return fmt.Sprintf("pubsub: publish %s to %s: %v", e.EventID, e.Topic, e.Err)
}

func (e *PublishError) Unwrap() error { return e.Err }

// Publisher publishes events to Kafka topics through a kgo client.
//
// Records are keyed by Event.Key, so events with one key go to one
// partition in order. kgo's producer is idempotent unless the client was
// built with kgo.DisableIdempotentWrite, so retries inside the client do not
// duplicate or reorder records.
//
// Events published with a context that carries a handled event (inside a
// Router handler) get its correlation id and name it as their cause. A
// Publisher is safe for concurrent use.
type Publisher struct {
	cl     *kgo.Client
	source string
	codec  event.Codec
	prop   propagation.TextMapPropagator
	tracer trace.Tracer // nil: no producer spans
	closed atomic.Bool
}

// PublisherOption configures a Publisher.
type PublisherOption func(*Publisher)

// WithSource sets the source of events built by PublishValue.
func WithSource(s string) PublisherOption { return func(p *Publisher) { p.source = s } }

// WithCodec sets the codec of PublishValue; the default is event.JSON.
func WithCodec(c event.Codec) PublisherOption { return func(p *Publisher) { p.codec = c } }

// WithPropagator sets how trace context is written into record headers;
// the default is otel's global propagator. nil writes none.
func WithPropagator(tp propagation.TextMapPropagator) PublisherOption {
	return func(p *Publisher) { p.prop = tp }
}

// WithTracerProvider makes the publisher start a producer span per event
// ("<topic> publish", OpenTelemetry messaging conventions), a child of the
// span in the publishing ctx, and write the producer span's context into
// the record (with the propagator), so that consumer spans are its
// children. Without it no spans are made and the record carries ctx's
// trace context.
func WithTracerProvider(tp trace.TracerProvider) PublisherOption {
	return func(p *Publisher) {
		if tp != nil {
			p.tracer = tp.Tracer("github.com/heraldhq/herald/pubsub")
		}
	}
}

// NewPublisher returns a publisher that produces through cl. The caller
// keeps ownership of cl and closes it after the publisher.
func NewPublisher(cl *kgo.Client, opts ...PublisherOption) *Publisher {
	p := &Publisher{cl: cl, source: "herald", codec: event.JSON, prop: otel.GetTextMapPropagator()}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Publish publishes events to topic and waits until each is acknowledged
// or failed. The error joins one *PublishError per failed event; the other
// events were published.
func (p *Publisher) Publish(ctx context.Context, topic string, evs ...event.Event) error {
	if p.closed.Load() {
		return ErrClosed
	}
	recs := make([]*kgo.Record, 0, len(evs))
	spans := make([]trace.Span, 0, len(evs))
	for _, e := range evs {
		r, span, err := p.record(ctx, topic, e)
		if err != nil {
			for _, s := range spans {
				endSpan(s, nil, err)
			}
			return err
		}
		recs = append(recs, r)
		spans = append(spans, span)
	}
	var errs []error
	for i, res := range p.cl.ProduceSync(ctx, recs...) {
		endSpan(spans[i], res.Record, res.Err)
		if res.Err != nil {
			errs = append(errs, &PublishError{Topic: topic, EventID: evs[i].ID, Err: res.Err})
		}
	}
	return errors.Join(errs...)
}

// PublishAsync starts publishing e and returns; done, if not nil, is called
// once with the outcome, from a client goroutine: it must not block. Order
// is kept among events with one key published from one goroutine.
func (p *Publisher) PublishAsync(ctx context.Context, topic string, e event.Event, done func(event.Event, error)) {
	if done == nil {
		done = func(event.Event, error) {}
	}
	if p.closed.Load() {
		done(e, ErrClosed)
		return
	}
	r, span, err := p.record(ctx, topic, e)
	if err != nil {
		done(e, err)
		return
	}
	p.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		endSpan(span, r, err)
		if err != nil {
			err = &PublishError{Topic: topic, EventID: e.ID, Err: err}
		}
		done(e, err)
	})
}

// PublishValue encodes v with the publisher's codec into a new event of
// type typ with the given key, and publishes it synchronously.
func (p *Publisher) PublishValue(ctx context.Context, topic, typ, key string, v any) (event.Event, error) {
	e := event.New(p.source, typ, nil)
	e.Key = key // before encoding: an event/crypt codec may key on it
	e, err := event.EncodeEvent(ctx, p.codec, topic, event.Link(ctx, e), v)
	if err != nil {
		return e, err
	}
	return e, p.Publish(ctx, topic, e)
}

// Flush waits until every event published so far is acknowledged or failed.
func (p *Publisher) Flush(ctx context.Context) error { return p.cl.Flush(ctx) }

// Close stops the publisher from taking events and waits for the ones in
// flight. It does not close the client. Close is idempotent.
func (p *Publisher) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	return p.cl.Flush(context.Background())
}

// record returns e's record, and its producer span if the publisher
// makes them.
func (p *Publisher) record(ctx context.Context, topic string, e event.Event) (*kgo.Record, trace.Span, error) {
	if e.SpecVersion == "" {
		e.SpecVersion = event.SpecVersion
	}
	e = event.Link(ctx, e)
	if err := e.Validate(); err != nil {
		return nil, nil, &PublishError{Topic: topic, EventID: e.ID, Err: err}
	}
	r := e.Record(topic)
	var span trace.Span
	if p.tracer != nil {
		ctx, span = p.tracer.Start(ctx, topic+" publish", trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(
				attribute.String("messaging.system", "kafka"),
				attribute.String("messaging.operation.type", "send"),
				attribute.String("messaging.destination.name", topic),
				attribute.String("messaging.message.id", e.ID),
				attribute.String("messaging.kafka.message.key", e.Key),
			))
	}
	if p.prop != nil {
		p.prop.Inject(ctx, HeaderCarrier{Headers: &r.Headers})
	}
	return r, span, nil
}

// endSpan ends a producer span (if any) with the outcome of its record.
func endSpan(span trace.Span, rec *kgo.Record, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else if rec != nil {
		span.SetAttributes(attribute.Int("messaging.destination.partition.id", int(rec.Partition)),
			attribute.Int64("messaging.kafka.offset", rec.Offset))
	}
	span.End()
}

// HeaderCarrier adapts record headers to otel's TextMapCarrier.
type HeaderCarrier struct{ Headers *[]kgo.RecordHeader }

// Get returns the value of header k.
func (c HeaderCarrier) Get(k string) string {
	for _, h := range *c.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

// Set sets header k, replacing an existing one.
func (c HeaderCarrier) Set(k, v string) {
	for i, h := range *c.Headers {
		if h.Key == k {
			(*c.Headers)[i].Value = []byte(v)
			return
		}
	}
	*c.Headers = append(*c.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
}

// Keys lists the header keys.
func (c HeaderCarrier) Keys() []string {
	ks := make([]string, 0, len(*c.Headers))
	for _, h := range *c.Headers {
		ks = append(ks, h.Key)
	}
	return ks
}

package pubsub

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
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

// Tracing continues the trace whose context the record's traceparent
// header carries (written by a Publisher or an outbox relay) with a
// consumer span per attempt ("<topic> process", OpenTelemetry messaging
// conventions): a child of the producer's span and linked to it, so every
// attempt of one message is in the producer's trace. The span is in the
// handler's context, so events the handler publishes carry it on.
//
// It costs little where no span is recorded: with a no-op provider it
// does nothing; when the record's trace context is not sampled it starts
// no span (the context is passed on, so the trace stays unsampled
// downstream); and a span that the sampler drops gets no attributes.
func Tracing(tp trace.TracerProvider, prop propagation.TextMapPropagator) Middleware {
	if _, ok := tp.(noop.TracerProvider); ok || tp == nil {
		return func(next Handler) Handler { return next }
	}
	tracer := tp.Tracer("github.com/heraldhq/herald/pubsub")
	start := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
	_, w3c := prop.(propagation.TraceContext)
	return func(next Handler) Handler {
		var names spanNames
		return func(ctx context.Context, m *Message) error {
			if len(m.Record.Headers) > 0 {
				if tp, ok := unsampledTraceparent(m.Record.Headers); w3c && ok {
					// The common case under sampling, made cheap: no
					// span, and the parent passed on, parsed only if
					// asked for (to publish a follow-up, say): in the
					// router's own context of the record if that is
					// ctx, else in one from the worker's slab.
					if rc, ok := ctx.(*recordCtx); ok && rc.tp == nil {
						rc.tp = tp
						return next(rc, m)
					}
					c := m.slab.get()
					c.Context, c.tp = ctx, tp
					return next(c, m)
				}
				ctx = prop.Extract(ctx, HeaderCarrier{Headers: &m.Record.Headers})
			}
			parent := trace.SpanContextFromContext(ctx)
			if parent.IsValid() && !parent.IsSampled() {
				return next(ctx, m)
			}
			ctx, span := tracer.Start(ctx, names.of(m.Record.Topic), start...)
			if !span.IsRecording() {
				span.End()
				return next(ctx, m)
			}
			setConsumerAttrs(span, m, parent)
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

func setConsumerAttrs(span trace.Span, m *Message, parent trace.SpanContext) {
	if parent.IsValid() {
		span.AddLink(trace.Link{SpanContext: parent})
	}
	span.SetAttributes(
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.destination.name", m.Record.Topic),
		attribute.Int("messaging.destination.partition.id", int(m.Record.Partition)),
		attribute.Int64("messaging.kafka.offset", m.Record.Offset),
		attribute.String("messaging.message.id", m.Event.ID),
		attribute.String("messaging.consumer.group.name", m.Group),
		attribute.Int("herald.attempt", m.Attempt),
	)
}

// spanNames caches "<topic> process" for the topics a handler sees (one,
// usually), so that naming a span does not allocate.
type spanNames struct {
	last atomic.Pointer[[2]string] // topic, name
}

func (n *spanNames) of(topic string) string {
	if l := n.last.Load(); l != nil && l[0] == topic {
		return l[1]
	}
	l := &[2]string{topic, topic + " process"}
	n.last.Store(l)
	return l[1]
}

// unsampledTraceparent returns a record's W3C traceparent header
// (version 00) if its sampled flag is off and the record has no
// tracestate. It checks the layout only; the ids are parsed (and
// checked) by parseTraceparent when the context is asked for them.
func unsampledTraceparent(hs []kgo.RecordHeader) ([]byte, bool) {
	var tp []byte
	for _, h := range hs {
		switch h.Key {
		case "traceparent":
			tp = h.Value
		case "tracestate":
			if len(h.Value) > 0 {
				return nil, false
			}
		}
	}
	// 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>
	if len(tp) != 55 || tp[0] != '0' || tp[1] != '0' || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' {
		return nil, false
	}
	flags := hexVal[tp[54]]
	return tp, hexVal[tp[53]] < 16 && flags < 16 && flags&1 == 0
}

// parseTraceparent returns the remote span context of a traceparent that
// unsampledTraceparent accepted, if its ids are valid.
func parseTraceparent(tp []byte) (trace.SpanContext, bool) {
	var cfg trace.SpanContextConfig
	var flags [1]byte
	if !lowerHex(tp[3:35], cfg.TraceID[:]) || !lowerHex(tp[36:52], cfg.SpanID[:]) || !lowerHex(tp[53:55], flags[:]) {
		return trace.SpanContext{}, false
	}
	cfg.TraceFlags, cfg.Remote = trace.TraceFlags(flags[0]), true
	sc := trace.NewSpanContext(cfg)
	return sc, sc.IsValid()
}

// unsampledCtx is a handler's context under an unsampled remote parent:
// it answers otel's span lookup (trace.SpanFromContext) with the parent,
// parsed from the traceparent at the lookup, as
// trace.ContextWithRemoteSpanContext would; so a handler that publishes
// nothing never parses it. Under the router it is needed only when a
// middleware before Tracing wrapped the context (else the router's
// recordCtx carries the parent), and is a slot of the worker's ctxSlab.
type unsampledCtx struct {
	context.Context
	tp []byte
}

// Value implements context.Context.
func (c *unsampledCtx) Value(k any) any {
	if k == otelSpanKey {
		if sc, ok := parseTraceparent(c.tp); ok {
			return remoteSpan{sc: sc}
		}
	}
	return c.Context.Value(k)
}

// recordCtx is the context the router gives an attempt on a record: the
// record's event (event.RecordContext) and, once the Tracing middleware
// has found an unsampled W3C parent in the record's headers, that parent,
// answered as unsampledCtx answers it. So the middleware needs no context
// of its own when the router's reaches it unwrapped (no middleware before
// it made a new one), as it does when it is the only one.
type recordCtx struct {
	event.RecordContext
	tp []byte // the unsampled traceparent Tracing found, or nil
}

// Value implements context.Context.
func (c *recordCtx) Value(k any) any {
	if c.tp != nil && k == otelSpanKey {
		if sc, ok := parseTraceparent(c.tp); ok {
			return remoteSpan{sc: sc}
		}
	}
	return c.RecordContext.Value(k)
}

// remoteSpan is a remote parent in a context, not recording (the value
// trace.ContextWithRemoteSpanContext stores).
type remoteSpan struct {
	noop.Span
	sc trace.SpanContext
}

// SpanContext returns the parent's span context.
func (s remoteSpan) SpanContext() trace.SpanContext { return s.sc }

// otelSpanKey is the context key under which otel's trace package keeps
// the current span, learnt by asking a context that records the key it
// is asked for.
var otelSpanKey = func() any {
	spy := &keySpy{Context: context.Background()}
	trace.SpanFromContext(spy)
	return spy.key
}()

type keySpy struct {
	context.Context
	key any
}

func (s *keySpy) Value(k any) any { s.key = k; return nil }

// lowerHex decodes lower-case hex src into dst (len(src) == 2*len(dst)).
func lowerHex(src, dst []byte) bool {
	bad := byte(0)
	for i := range dst {
		hi, lo := hexVal[src[2*i]], hexVal[src[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo&0xf
	}
	return bad&0xf0 == 0
}

// hexVal maps a lower-case hex digit to its value, anything else to 0xff.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c - '0'
	}
	for c := byte('a'); c <= 'f'; c++ {
		t[c] = c - 'a' + 10
	}
	return t
}()

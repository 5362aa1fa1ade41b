package pubsub

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// UnknownType is what a topic dispatched by event type (On) does with an
// event whose CloudEvents type has no handler on the topic.
type UnknownType int

const (
	// SkipUnknown acknowledges the event without handling it. The
	// attempt's Outcome is Skipped, which Metrics counts in
	// herald_pubsub_skipped_total (not as handled). It suits topics that
	// carry many types of which a consumer wants a few. The default.
	SkipUnknown UnknownType = iota
	// DeadLetterUnknown fails the event permanently with ErrNoHandler, so
	// it goes to the dead-letter topic at once. It suits topics whose
	// every type must be handled by this consumer.
	DeadLetterUnknown
)

// ErrNoHandler is the failure of an event whose type has no handler on a
// topic dispatched by type, under DeadLetterUnknown.
var ErrNoHandler = errors.New("pubsub: no handler for the event type")

// Outcome says how an attempt that returned nil ended.
type Outcome uint8

const (
	// Handled: a handler took effect. The default.
	Handled Outcome = iota
	// Skipped: no handler wanted the message (SkipUnknown).
	Skipped
	// Deduplicated: the message's id was handled before, so it was
	// acknowledged without running the handler again (see pubsub/dedup).
	Deduplicated
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Handled:
		return "handled"
	case Skipped:
		return "skipped"
	case Deduplicated:
		return "deduplicated"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// SetOutcome records how the current attempt ended if it returns nil;
// middleware that acknowledges a message without running its handler
// (dedup) sets it, so that metrics do not count the message as handled.
// The router resets it to Handled before each attempt.
func (m *Message) SetOutcome(o Outcome) { m.outcome = o }

// Outcome is what SetOutcome recorded in the current attempt (Handled if
// nothing was).
func (m *Message) Outcome() Outcome { return m.outcome }

// typeTable is one topic's handlers by event type.
type typeTable struct {
	byType map[string]Handler
}

// On binds h to the events of CloudEvents type typ on topic: the router
// dispatches the topic's events by type, and decodes the data of those of
// type typ into a T with the router's Codec (RouterConfig.Codec, default
// event.JSON) before calling h, wrapped in mws (inside the router's Use
// middleware). Data that does not decode is a Permanent failure unless
// the codec marks the error transient (as Typed).
//
// Events of a type with no handler on the topic are skipped or
// dead-lettered as RouterConfig.UnknownType says. A topic is dispatched
// either by type (On) or by one Handler (Router.Handle), not both; a
// second On for a topic and type is refused. Call On before Run; a
// refused On returns an error, and so does Run afterwards.
func On[T any](r *Router, topic, typ string, h func(ctx context.Context, v T) error, mws ...Middleware) error {
	if h == nil {
		return r.refuse(fmt.Errorf("pubsub: On(%q, %q): nil handler", topic, typ))
	}
	return OnMessage(r, topic, typ, func(ctx context.Context, _ *Message, v T) error { return h(ctx, v) }, mws...)
}

// OnMessage is On for a handler that also wants the Message (its record,
// attempt, event attributes).
func OnMessage[T any](r *Router, topic, typ string, h func(ctx context.Context, m *Message, v T) error, mws ...Middleware) error {
	if h == nil {
		return r.refuse(fmt.Errorf("pubsub: On(%q, %q): nil handler", topic, typ))
	}
	return r.on(topic, typ, Chain(Typed(r.cfg.Codec, h), mws...))
}

// refuse records a refused registration, for Run to return, and returns it.
func (r *Router) refuse(err error) error {
	r.regErrs = append(r.regErrs, err)
	return err
}

func (r *Router) on(topic, typ string, h Handler) error {
	r.mu.Lock()
	running := r.mu.running
	r.mu.Unlock()
	t := r.types[topic]
	switch {
	case running:
		return fmt.Errorf("pubsub: On(%q, %q) after Run", topic, typ)
	case topic == "" || typ == "":
		return r.refuse(fmt.Errorf("pubsub: On(%q, %q): empty topic or type", topic, typ))
	case r.handlers[topic] != nil:
		return r.refuse(fmt.Errorf("pubsub: On(%q, %q): the topic has a Handle handler; a topic is dispatched by type or by one handler", topic, typ))
	case t != nil && t.byType[typ] != nil:
		return r.refuse(fmt.Errorf("pubsub: On(%q, %q): the type has a handler on the topic already", topic, typ))
	}
	if t == nil {
		t = &typeTable{byType: make(map[string]Handler)}
		r.types[topic] = t
	}
	t.byType[typ] = h
	return nil
}

// handler returns the dispatching handler of the table.
func (t *typeTable) handler(unknown UnknownType) Handler {
	byType := maps.Clone(t.byType)
	return func(ctx context.Context, m *Message) error {
		if h := byType[m.Event.Type]; h != nil {
			return h(ctx, m)
		}
		if unknown == DeadLetterUnknown {
			return Permanent(fmt.Errorf("%w: type %q on topic %s (handled: %v)", ErrNoHandler, m.Event.Type, m.Record.Topic, slices.Sorted(maps.Keys(byType))))
		}
		m.SetOutcome(Skipped)
		return nil
	}
}

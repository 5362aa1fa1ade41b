package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/kafkasec"
)

// Command extension attributes, carried as ce_ headers (part of the wire
// format; do not change):
//
//	replyto   the topic the requester reads replies from
//	replykey  the record key replies are published with (the requester's id)
//
// A reply is an event of type <command type>.reply whose causation id is
// the command's id (how the requester matches it), published to replyto
// with key replykey. A reply to a command that failed permanently carries
// the extension replyerror with the error text and no data.
const (
	ExtReplyTo    = "replyto"
	ExtReplyKey   = "replykey"
	ExtReplyError = "replyerror"
	replySuffix   = ".reply"
)

// CommandBus sends commands: events that ask one consumer group to do
// something, as opposed to events that say something happened. A command
// goes to the topic its type maps to and is handled there by On (no
// reply) or HandleRequest (a reply for Request). A CommandBus is safe for
// concurrent use.
type CommandBus struct {
	pub   *Publisher
	topic func(cmdType string) string
}

// NewCommandBus returns a bus that publishes with pub to the topic that
// topic returns for a command type (nil: the type itself, e.g. commands
// of type "billing.charge" go to the topic "billing.charge").
func NewCommandBus(pub *Publisher, topic func(cmdType string) string) *CommandBus {
	if topic == nil {
		topic = func(t string) string { return t }
	}
	return &CommandBus{pub: pub, topic: topic}
}

// Send publishes cmd, encoded with the publisher's codec, as a command of
// type typ keyed by key, and waits for the broker's ack. It returns the
// command's event.
func (b *CommandBus) Send(ctx context.Context, typ, key string, cmd any) (event.Event, error) {
	topic, e, err := b.build(ctx, typ, key, cmd, nil)
	if err != nil {
		return e, err
	}
	return e, b.pub.Publish(ctx, topic, e)
}

// build encodes the command event and names its topic.
func (b *CommandBus) build(ctx context.Context, typ, key string, cmd any, ext map[string]string) (string, event.Event, error) {
	topic := b.topic(typ)
	e := event.New(b.pub.source, typ, nil)
	e.Key = key // before encoding: an event/crypt codec may key on it
	e, err := event.EncodeEvent(ctx, b.pub.codec, topic, e, cmd)
	if err != nil {
		return topic, e, fmt.Errorf("pubsub: encode command %s: %w", typ, err)
	}
	for k, v := range ext {
		e = e.WithExtension(k, v)
	}
	return topic, event.Link(ctx, e), nil
}

// HandleRequest binds h to the commands of type typ on topic (as On), and
// publishes h's result with pub as the reply to a command that asks for
// one (sent by Request). A Permanent error from h is replied as a
// *RemoteError and the command is acknowledged (a command sent with
// CommandBus.Send, which asks for no reply, is dead-lettered instead); a
// command whose data does not decode is replied as a *RemoteError too,
// and dead-lettered; any
// other error fails the attempt as usual (retried; the requester may time
// out first, and a command dead-lettered after MaxAttempts gets no
// reply).
//
// Delivery is at least once: a command may be handled, and replied to,
// twice; the requester takes the first reply. Make h idempotent (see
// pubsub/dedup) if it has effects.
func HandleRequest[C, R any](r *Router, pub *Publisher, topic, typ string, h func(ctx context.Context, cmd C) (R, error), mws ...Middleware) error {
	if h == nil || pub == nil {
		return r.refuse(fmt.Errorf("pubsub: HandleRequest(%q, %q): nil handler or publisher", topic, typ))
	}
	codec := r.cfg.Codec
	return r.on(topic, typ, Chain(func(ctx context.Context, m *Message) error {
		cmd, err := event.Decode[C](ctx, codec, m.Event)
		if err != nil {
			if IsTransient(err) {
				return err
			}
			return replyFailure(ctx, pub, m, typ, Permanent(fmt.Errorf("decode command %s: %w", m.Event.ID, err)))
		}
		res, err := h(ctx, cmd)
		if err != nil && !IsPermanent(err) {
			return err
		}
		return reply(ctx, pub, m, typ, res, err)
	}, mws...))
}

// replyFailure replies failed (permanent) to m's command and returns it,
// so that the command is dead-lettered; if the reply cannot be published
// it returns that error, so that the attempt is retried.
func replyFailure(ctx context.Context, pub *Publisher, m *Message, typ string, failed error) error {
	if err := reply(ctx, pub, m, typ, nil, failed); err != nil {
		return err // failed, or the reply's publish error: retried
	}
	return failed
}

// reply publishes the reply to m's command (res, or failed if not nil)
// and returns the publish error; for a command that asks for no reply
// (sent with CommandBus.Send) it returns failed, which dead-letters it.
func reply(ctx context.Context, pub *Publisher, m *Message, typ string, res any, failed error) error {
	to := m.Event.Extensions[ExtReplyTo]
	if to == "" {
		return failed
	}
	e := event.New(pub.source, typ+replySuffix, nil)
	e.Key = m.Event.Extensions[ExtReplyKey] // before encoding: an event/crypt codec may key on it
	e = e.Caused(m.Event)
	if failed != nil {
		e = e.WithExtension(ExtReplyError, failed.Error())
	} else {
		var err error
		if e, err = event.EncodeEvent(ctx, pub.codec, to, e, res); err != nil {
			return Permanent(fmt.Errorf("pubsub: encode reply to %s: %w", m.Event.ID, err))
		}
	}
	if err := pub.Publish(ctx, to, e); err != nil {
		return fmt.Errorf("pubsub: reply to %s: %w", m.Event.ID, err)
	}
	return nil
}

// RemoteError is the failure a command handler replied with.
type RemoteError struct {
	CommandID string
	Msg       string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("pubsub: command %s failed: %s", e.CommandID, e.Msg)
}

// ErrRequestTimeout is the error of a Request whose reply did not come in
// time; it wraps context.DeadlineExceeded.
var ErrRequestTimeout = fmt.Errorf("pubsub: request timed out: %w", context.DeadlineExceeded)

// RequesterConfig configures a Requester.
type RequesterConfig struct {
	// Brokers are the seed addresses. Required.
	Brokers []string
	// ReplyTopic is the topic replies come back on. Required; it must
	// exist. Several requesters (instances of a service) may share it:
	// each reads every partition and keeps the replies to its own
	// requests (matched by command id), so its partitions need not be
	// its own. Partitions added after NewRequester are not read.
	ReplyTopic string
	// Timeout bounds a Request whose ctx has no earlier deadline.
	// Default 30s.
	Timeout time.Duration
	// ClientOpts are extra kgo options for the reply consumer.
	ClientOpts []kgo.Opt
	// Security is TLS and SASL for the reply consumer; the zero value is
	// a plaintext client. (The CommandBus sends with the Publisher's
	// client, which the caller configures.)
	Security kafkasec.Config
	// Logger receives the requester's own logs. Default slog.Default().
	Logger *slog.Logger
}

// Requester sends commands and waits for their replies (request/reply
// over topics). A Requester is safe for concurrent use; Close it when
// done.
type Requester struct {
	bus *CommandBus
	cfg RequesterConfig
	id  string
	cl  *kgo.Client
	wg  sync.WaitGroup

	mu struct {
		sync.Mutex
		pending map[string]chan event.Event // by command id
		closed  bool
	}
}

// NewRequester returns a requester that sends commands on bus and reads
// replies from cfg.ReplyTopic, from its end now on.
func NewRequester(ctx context.Context, bus *CommandBus, cfg RequesterConfig) (*Requester, error) {
	if len(cfg.Brokers) == 0 || cfg.ReplyTopic == "" || bus == nil {
		return nil, errors.New("pubsub: NewRequester needs a bus, Brokers and ReplyTopic")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	secOpts, err := cfg.Security.Opts()
	if err != nil {
		return nil, fmt.Errorf("pubsub: RequesterConfig.Security: %w", err)
	}
	cfg.ClientOpts = append(secOpts, cfg.ClientOpts...)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	starts, err := replyOffsets(ctx, cfg)
	if err != nil {
		return nil, err
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ConsumePartitions(starts), kgo.FetchMaxWait(100 * time.Millisecond)}, cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("pubsub: reply consumer: %w", err)
	}
	q := &Requester{bus: bus, cfg: cfg, id: event.NewID(), cl: cl}
	q.mu.pending = make(map[string]chan event.Event)
	q.wg.Add(1)
	go q.readReplies()
	return q, nil
}

// replyOffsets are the reply topic's end offsets, where reading begins:
// read before any request is sent, so no reply is missed.
func replyOffsets(ctx context.Context, cfg RequesterConfig) (map[string]map[int32]kgo.Offset, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, cfg.ClientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("pubsub: reply topic offsets: %w", err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, cfg.ReplyTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("pubsub: reply topic %s offsets: %w", cfg.ReplyTopic, err)
	}
	parts := make(map[int32]kgo.Offset)
	ends.Each(func(o kadm.ListedOffset) { parts[o.Partition] = kgo.NewOffset().At(o.Offset) })
	if len(parts) == 0 {
		return nil, fmt.Errorf("pubsub: reply topic %s has no partitions", cfg.ReplyTopic)
	}
	return map[string]map[int32]kgo.Offset{cfg.ReplyTopic: parts}, nil
}

func (q *Requester) readReplies() {
	defer q.wg.Done()
	for {
		fs := q.cl.PollFetches(context.Background())
		if fs.IsClientClosed() {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			q.cfg.Logger.Warn("pubsub: reply fetch error", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(q.deliver)
	}
}

// deliver hands a reply to the request waiting for it; replies to other
// requesters' requests, and second replies, are dropped.
func (q *Requester) deliver(rec *kgo.Record) {
	e, err := event.FromRecord(rec)
	if err != nil || e.CausationID == "" {
		return
	}
	q.mu.Lock()
	ch := q.mu.pending[e.CausationID]
	delete(q.mu.pending, e.CausationID)
	q.mu.Unlock()
	if ch != nil {
		ch <- e // buffered: never blocks
	}
}

// Send sends cmd as a command of type typ keyed by key, asking for a
// reply, and waits for the reply event until ctx ends or the Timeout
// passes (ErrRequestTimeout). A reply that carries a handler's failure
// is returned as the event and a *RemoteError.
func (q *Requester) Send(ctx context.Context, typ, key string, cmd any) (event.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, q.cfg.Timeout)
	defer cancel()
	ch := make(chan event.Event, 1)
	e, err := q.register(ctx, typ, key, cmd, ch)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("command %s (%s) not sent in time: %w", e.ID, typ, errors.Join(ErrRequestTimeout, err))
		}
		return event.Event{}, err
	}
	defer q.forget(e.ID)
	select {
	case r := <-ch:
		if msg, ok := r.Extensions[ExtReplyError]; ok {
			return r, &RemoteError{CommandID: e.ID, Msg: msg}
		}
		return r, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return event.Event{}, fmt.Errorf("command %s (%s): %w", e.ID, typ, ErrRequestTimeout)
		}
		return event.Event{}, ctx.Err()
	}
}

// register sends the command with ch waiting for its reply. The id is
// chosen, and ch registered, before the send, so that a fast reply is
// not missed.
func (q *Requester) register(ctx context.Context, typ, key string, cmd any, ch chan event.Event) (event.Event, error) {
	q.mu.Lock()
	if q.mu.closed {
		q.mu.Unlock()
		return event.Event{}, ErrClosed
	}
	q.mu.Unlock()
	ext := map[string]string{ExtReplyTo: q.cfg.ReplyTopic, ExtReplyKey: q.id}
	topic, e, err := q.bus.build(ctx, typ, key, cmd, ext)
	if err != nil {
		return e, err
	}
	q.mu.Lock()
	q.mu.pending[e.ID] = ch
	q.mu.Unlock()
	if err := q.bus.pub.Publish(ctx, topic, e); err != nil {
		q.forget(e.ID)
		return e, err
	}
	return e, nil
}

func (q *Requester) forget(id string) {
	q.mu.Lock()
	delete(q.mu.pending, id)
	q.mu.Unlock()
}

// Close stops reading replies; waiting requests end at their deadlines.
// Close is idempotent.
func (q *Requester) Close() error {
	q.mu.Lock()
	was := q.mu.closed
	q.mu.closed = true
	q.mu.Unlock()
	if !was {
		q.cl.Close()
		q.wg.Wait()
	}
	return nil
}

// Request sends cmd with q and decodes the reply's data into an R with
// the publisher's codec (see Requester.Send).
func Request[R any](ctx context.Context, q *Requester, typ, key string, cmd any) (R, error) {
	var zero R
	e, err := q.Send(ctx, typ, key, cmd)
	if err != nil {
		return zero, err
	}
	v, err := event.Decode[R](ctx, q.bus.pub.codec, e)
	if err != nil {
		return zero, fmt.Errorf("pubsub: decode reply to %s: %w", typ, err)
	}
	return v, nil
}

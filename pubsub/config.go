package pubsub

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/kafkasec"
)

// RouterConfig configures a Router. Zero fields take the defaults noted.
type RouterConfig struct {
	// Brokers are the seed addresses. Required.
	Brokers []string
	// Group is the consumer group. Required.
	Group string
	// ClientOpts are extra kgo options (TLS, SASL, ConsumeResetOffset, ...),
	// applied after the router's own. They must not change group
	// consumption or commits.
	ClientOpts []kgo.Opt
	// Security is TLS and SASL for the router's client (Kafka's SSL,
	// SASL_PLAINTEXT, SASL_SSL); the zero value is a plaintext client.
	Security kafkasec.Config

	// MaxAttempts is how many times a handler is given a message before it
	// goes to the dead-letter topic. Default 5; 1 means no retries.
	// Attempts are counted across restarts and rebalances (see the package
	// doc); Transient failures are not counted.
	MaxAttempts int
	// Backoff is the delay between attempts.
	Backoff Backoff
	// DeadLetterTopic names the dead-letter topic of a topic; returning ""
	// drops failed messages after logging them. Default: topic + ".dlq".
	// The topic must exist (or the cluster must auto-create topics).
	DeadLetterTopic func(topic string) string

	// Workers is how many handler calls of one partition run at once
	// when handlers are slow. Records are then spread over that many
	// workers by a hash of the key; a worker handles its records one at
	// a time, in offset order per key. While handlers are fast (a few
	// microseconds), the partition's lead runs them itself, one at a
	// time, which costs less per record; a call that blocks for 10ms
	// makes the lead hand the records after it to the workers. A handler
	// that blocks (rather than fails, which sets its key aside for a
	// retry) delays the other keys of its worker. Default 16.
	Workers int
	// MaxPending bounds the records of one partition that are fetched but
	// not handled; at the bound the partition's fetching pauses. Default
	// 16384: more than a fetch of one partition holds (1 MiB) unless the
	// records are tiny, because kgo sends the next fetch only once the
	// last is fully taken, so a lower bound stalls the fetching while the
	// handlers are merely busy, without saving memory.
	MaxPending int
	// CommitInterval is how often handled offsets are committed. Default 1s.
	CommitInterval time.Duration
	// ShutdownTimeout bounds how long Run waits, when stopping, for
	// in-flight handlers; then their contexts are cancelled. It also bounds
	// the wait when partitions are revoked. Default 30s.
	ShutdownTimeout time.Duration
	// PollRecords is how many records one poll takes at most. Default 4096.
	PollRecords int

	// Codec decodes the data of events for handlers bound with On.
	// Default event.JSON.
	Codec event.Codec
	// UnknownType is what a topic dispatched by type (On) does with an
	// event whose type has no handler there: SkipUnknown (the default)
	// or DeadLetterUnknown.
	UnknownType UnknownType

	// Metrics, if set, receives the router's metrics (see Metrics): the
	// router adds Metrics.Middleware outermost, counts dead letters and
	// keeps the lag gauges.
	Metrics *Metrics

	// Logger receives the router's own logs. Default slog.Default().
	Logger *slog.Logger

	// WorkQueue consumes with a share group (KIP-932, Kafka 4.1+ or
	// Herald) named Group instead of a consumer group: any number of
	// routers share each partition, the broker locks each record to
	// one of them, and the router acknowledges every message (see
	// "Work-queue mode" in the package doc). Order per key is NOT kept
	// in this mode. MaxPending and CommitInterval do not apply; Workers
	// is the handlers running at once for the whole router.
	WorkQueue bool
}

// Validate reports every problem with the config, joined.
func (c RouterConfig) Validate() error {
	var errs []error
	if err := c.Security.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("pubsub: RouterConfig.Security: %w", err))
	}
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("pubsub: RouterConfig.Brokers is empty"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("pubsub: RouterConfig.Group is empty"))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, errors.New("pubsub: RouterConfig.MaxAttempts is negative"))
	}
	if c.Workers < 0 {
		errs = append(errs, errors.New("pubsub: RouterConfig.Workers is negative"))
	}
	if c.MaxPending < 0 {
		errs = append(errs, errors.New("pubsub: RouterConfig.MaxPending is negative"))
	}
	if c.CommitInterval < 0 || c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("pubsub: RouterConfig durations must not be negative"))
	}
	if c.UnknownType != SkipUnknown && c.UnknownType != DeadLetterUnknown {
		errs = append(errs, fmt.Errorf("pubsub: RouterConfig.UnknownType %d is not SkipUnknown or DeadLetterUnknown", c.UnknownType))
	}
	errs = append(errs, c.Backoff.problems()...)
	return errors.Join(errs...)
}

func (c RouterConfig) withDefaults() RouterConfig {
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	c.Backoff = c.Backoff.withDefaults()
	if c.DeadLetterTopic == nil {
		c.DeadLetterTopic = func(t string) string { return t + ".dlq" }
	}
	if c.Workers == 0 {
		c.Workers = 16
	}
	if c.MaxPending == 0 {
		c.MaxPending = 16384
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.PollRecords == 0 {
		c.PollRecords = 4096
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Codec == nil {
		c.Codec = event.JSON
	}
	return c
}

// Backoff is exponential backoff with jitter: attempt n (n >= 1 failed
// attempts) waits Initial*Multiplier^(n-1), at most Max, spread by ±Jitter
// of itself so that many retrying keys do not wake together.
//
// The zero Backoff is DefaultBackoff(). In any other Backoff a zero
// Initial, Max or Multiplier takes its default, but Jitter is taken as it
// is: Jitter 0 means no jitter.
type Backoff struct {
	Initial    time.Duration // default 100ms
	Max        time.Duration // default 10s
	Multiplier float64       // default 2
	Jitter     float64       // in [0, 1]; 0 is none (the zero Backoff has 0.2)
}

// DefaultBackoff is 100ms doubling up to 10s, with ±20% jitter.
func DefaultBackoff() Backoff {
	return Backoff{Initial: 100 * time.Millisecond, Max: 10 * time.Second, Multiplier: 2, Jitter: 0.2}
}

func (b Backoff) withDefaults() Backoff {
	if b == (Backoff{}) {
		return DefaultBackoff()
	}
	d := DefaultBackoff()
	if b.Initial == 0 {
		b.Initial = d.Initial
	}
	if b.Max == 0 {
		b.Max = d.Max
	}
	if b.Multiplier == 0 {
		b.Multiplier = d.Multiplier
	}
	return b
}

func (b Backoff) problems() []error {
	var errs []error
	if b.Initial < 0 || b.Max < 0 {
		errs = append(errs, errors.New("pubsub: Backoff durations must not be negative"))
	}
	if b.Multiplier != 0 && b.Multiplier < 1 {
		errs = append(errs, errors.New("pubsub: Backoff.Multiplier must be >= 1"))
	}
	if b.Jitter < 0 || b.Jitter > 1 {
		errs = append(errs, errors.New("pubsub: Backoff.Jitter must be in [0, 1]"))
	}
	return errs
}

// Delay is the wait after the given number of failed attempts.
func (b Backoff) Delay(failed int) time.Duration {
	b = b.withDefaults()
	d := float64(b.Initial)
	for i := 1; i < failed && d < float64(b.Max); i++ {
		d *= b.Multiplier
	}
	d = min(d, float64(b.Max))
	if b.Jitter > 0 {
		d *= 1 + b.Jitter*(2*rand.Float64()-1)
	}
	return time.Duration(d)
}

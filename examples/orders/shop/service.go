package shop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/pubsub"
)

// SagaMode is how the order saga runs.
type SagaMode string

// The saga styles.
const (
	// Choreography: each service reacts to the previous service's events.
	Choreography SagaMode = "choreography"
	// Orchestration: a saga.Definition in orders sends commands and
	// awaits replies.
	Orchestration SagaMode = "orchestration"
)

// ParseSagaMode parses a --saga flag.
func ParseSagaMode(s string) (SagaMode, error) {
	switch m := SagaMode(s); m {
	case Choreography, Orchestration:
		return m, nil
	}
	return "", fmt.Errorf("saga mode %q: want choreography or orchestration", s)
}

// Env is what every service needs to reach the cluster.
type Env struct {
	Brokers    []string
	ClientOpts []kgo.Opt // TLS, SASL
	Codec      *Codec
	Saga       SagaMode
	Logger     *slog.Logger
}

// Router returns a router of handlers in consumer group group, decoding
// events with the codec. Failed handlers retry quickly: in this example a
// failure is mostly a dependency that is briefly unavailable.
func (e Env) Router(group string) (*pubsub.Router, error) {
	opts := append([]kgo.Opt{kgo.FetchMaxWait(50 * time.Millisecond)}, e.ClientOpts...)
	return pubsub.NewRouter(pubsub.RouterConfig{
		Brokers: e.Brokers, Group: group, ClientOpts: opts, Codec: e.Codec, Logger: e.Logger,
		MaxAttempts: 10, Backoff: pubsub.Backoff{Initial: 20 * time.Millisecond, Max: time.Second, Jitter: 0.2},
		CommitInterval: 200 * time.Millisecond, ShutdownTimeout: 5 * time.Second,
	})
}

// Client returns a Kafka client for publishing.
func (e Env) Client() (*kgo.Client, error) {
	opts := append([]kgo.Opt{kgo.SeedBrokers(e.Brokers...), kgo.ProducerLinger(time.Millisecond)}, e.ClientOpts...)
	return kgo.NewClient(opts...)
}

// Relay returns a relay for ob and the client it publishes with; close the
// client after the relay stops.
func (e Env) Relay(ob outbox.Store, id string) (*outbox.Relay, *kgo.Client, error) {
	cl, err := e.Client()
	if err != nil {
		return nil, nil, err
	}
	r, err := outbox.NewRelay(ob, cl, outbox.RelayConfig{ID: id, PollInterval: 20 * time.Millisecond, Logger: e.Logger})
	if err != nil {
		cl.Close()
		return nil, nil, err
	}
	return r, cl, nil
}

// RunAll runs every f until ctx is cancelled or one fails; it cancels the
// others then, waits for them, and returns the first error.
func RunAll(ctx context.Context, fs ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		once sync.Once
		err  error
	)
	for _, f := range fs {
		wg.Go(func() {
			if e := f(ctx); e != nil && !errors.Is(e, context.Canceled) {
				once.Do(func() { err = e })
				cancel()
			}
		})
	}
	wg.Wait()
	return err
}

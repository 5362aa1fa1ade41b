package stream

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/kafkasec"
)

// Guarantee is an App's processing guarantee.
type Guarantee int

const (
	// AtLeastOnce commits a task's input offsets only after its outputs and
	// changelog records are acknowledged: after a crash, records since the
	// last commit are processed again (duplicates, never loss).
	AtLeastOnce Guarantee = iota
	// ExactlyOnce commits outputs, changelog records and input offsets in
	// one Kafka transaction (exactly_once_v2): consumers reading with
	// read_committed see each input's effects once.
	ExactlyOnce
)

// Config configures an App.
type Config struct {
	// AppID names the consumer group and prefixes internal topics
	// (<AppID>-<store>-changelog, <AppID>-<name>-repartition). Required.
	AppID string
	// Brokers are the seed brokers. Required.
	Brokers []string
	// StateDir holds the state stores, one pebble database per store and
	// task under StateDir/AppID/. Required if the topology has stores.
	// Two instances must not share it.
	StateDir string
	// Guarantee is AtLeastOnce by default.
	Guarantee Guarantee
	// InstanceID names this instance among the App's instances; under
	// ExactlyOnce the transactional id is <AppID>-<InstanceID>, so an
	// instance restarted with the same InstanceID fences (and aborts) the
	// transaction its previous run left open at once, instead of after
	// the transaction timeout. Random if empty.
	InstanceID string
	// CommitInterval is how often offsets (and state) are committed;
	// 1s by default (100ms under ExactlyOnce).
	CommitInterval time.Duration
	// MaxCachedWrites commits early when the stores of this instance
	// hold that many keys written since the last commit (100,000).
	MaxCachedWrites int
	// SkipUndecodable skips (and counts) records whose key or value does
	// not decode; by default such a record stops the App with an error.
	SkipUndecodable bool
	// InternalReplicationFactor is the replication factor of internal
	// topics; -1 (the broker's default) if 0.
	InternalReplicationFactor int16
	// Standbys is how many other instances keep a warm copy of each
	// task's stores, tailing its changelogs, so that a task that moves to
	// one of them restores only the changelog's tail (0: none).
	Standbys int
	// Endpoint is where this instance serves interactive queries over HTTP
	// (App.ServeHTTP), "host:port" or a base URL, as other instances reach
	// it; advertised to them in the group (Kafka Streams'
	// application.server). Empty: other instances cannot route to it.
	// The App sets the group balancer to carry it (cooperative-sticky
	// wrapped); a kgo.Balancers in ClientOpts replaces that, and then no
	// endpoint is advertised.
	Endpoint string
	// Logger logs rebalances and restores; slog.Default if nil.
	Logger *slog.Logger
	// ClientOpts are added to the Kafka client's options.
	ClientOpts []kgo.Opt
	// Security is TLS and SASL for the App's clients; the zero value is
	// a plaintext client.
	Security kafkasec.Config
}

// validate reports every problem, joined.
func (c Config) validate(hasStores bool) error {
	var errs []error
	if err := c.Security.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("config: Security: %w", err))
	}
	if c.AppID == "" {
		errs = append(errs, errors.New("config: AppID is empty"))
	}
	if strings.Trim(c.AppID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
		errs = append(errs, fmt.Errorf("config: AppID %q has characters a topic name cannot have (only ASCII letters, digits, '.', '_', '-')", c.AppID))
	}
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("config: Brokers is empty"))
	}
	if hasStores && c.StateDir == "" {
		errs = append(errs, errors.New("config: StateDir is empty and the topology has state stores"))
	}
	if c.CommitInterval < 0 {
		errs = append(errs, errors.New("config: CommitInterval is negative"))
	}
	if c.MaxCachedWrites < 0 {
		errs = append(errs, errors.New("config: MaxCachedWrites is negative"))
	}
	if c.Standbys < 0 {
		errs = append(errs, errors.New("config: Standbys is negative"))
	}
	if len(c.Endpoint) > 1<<15 {
		errs = append(errs, errors.New("config: Endpoint is longer than 32KiB"))
	}
	if c.Guarantee != AtLeastOnce && c.Guarantee != ExactlyOnce {
		errs = append(errs, errors.New("config: unknown Guarantee"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.CommitInterval == 0 {
		c.CommitInterval = time.Second
		if c.Guarantee == ExactlyOnce {
			c.CommitInterval = 100 * time.Millisecond
		}
	}
	if c.MaxCachedWrites == 0 {
		c.MaxCachedWrites = 100_000
	}
	if c.InternalReplicationFactor == 0 {
		c.InternalReplicationFactor = -1
	}
	if c.InstanceID == "" {
		c.InstanceID = rand.Text()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

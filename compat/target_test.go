package compat

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// autoCreate says what a target does with a request for an unknown topic.
type autoCreate int

const (
	autoCreateUnknown autoCreate = iota // we could not find out
	autoCreateOn                        // the broker creates the topic
	autoCreateOff                       // the broker answers UNKNOWN_TOPIC_OR_PARTITION
)

// target is the broker (or cluster) under test.
type target struct {
	name  string
	seeds []string

	// restart gracefully stops the broker and starts it again on the same
	// address and data; nil when the target cannot be restarted (an
	// external cluster).
	restart func(t testing.TB)

	// autoCreate is the broker's auto.create.topics.enable as far as the
	// starter knows it.
	autoCreate autoCreate

	// external is true for a cluster the suite does not own: topics it
	// creates there are deleted when the test ends.
	external bool

	// quirks are known departures from Kafka that the suite reports
	// instead of failing on, by name, with the reason.
	quirks map[string]string
}

// quirkLegacyCodecs: the broker advertises Produce v3+ only, and
// librdkafka takes that to mean it cannot take gzip, snappy or lz4, so it
// sends those batches uncompressed (see codecHint). Herald advertises
// Produce v0 and answers v0-2 with UNSUPPORTED_VERSION to avoid this.
const quirkLegacyCodecs = "legacy-codecs"

// quirk returns the reason for quirk q if the target has it.
func (tg target) quirk(q string) (string, bool) {
	why, ok := tg.quirks[q]
	return why, ok
}

// Addr is the first seed broker, host:port.
func (tg target) Addr() string { return tg.seeds[0] }

// canRestart reports whether Restart works, and why not when it does not.
func (tg target) canRestart() (bool, string) {
	if tg.restart == nil {
		return false, tg.name + " cannot be restarted by the suite"
	}
	return true, ""
}

// Restart restarts the broker; the caller checks canRestart first.
func (tg target) Restart(t testing.TB) {
	t.Helper()
	if ok, why := tg.canRestart(); !ok {
		t.Fatal(why)
	}
	start := time.Now()
	tg.restart(t)
	t.Logf("restarted %s in %v", tg.name, time.Since(start).Round(time.Millisecond))
}

// brokerOpts are wishes for the broker startBroker starts. A starter that
// cannot grant one reports the truth in the target instead (see
// target.autoCreate), and tests skip when it matters.
type brokerOpts struct {
	autoCreate autoCreate // autoCreateUnknown: the broker's default
}

type brokerOpt func(*brokerOpts)

// withAutoCreate asks for auto.create.topics.enable on or off.
func withAutoCreate(on bool) brokerOpt {
	return func(o *brokerOpts) {
		o.autoCreate = autoCreateOff
		if on {
			o.autoCreate = autoCreateOn
		}
	}
}

// startBroker returns the broker the test runs against: the external
// cluster in HERALD_TEST_BROKERS, else an in-process kfake when
// HERALD_COMPAT_KFAKE=1, else an in-process Herald. Whatever it starts is
// stopped when the test ends.
func startBroker(t testing.TB, opts ...brokerOpt) target {
	t.Helper()
	var o brokerOpts
	for _, opt := range opts {
		opt(&o)
	}
	if seeds := os.Getenv("HERALD_TEST_BROKERS"); seeds != "" {
		return externalTarget(t, seeds)
	}
	if os.Getenv("HERALD_COMPAT_KFAKE") == "1" {
		return startKfake(t, o)
	}
	return startHerald(t, o)
}

// externalTarget asks the cluster whether it auto-creates topics, since we
// cannot choose.
func externalTarget(t testing.TB, seeds string) target {
	tg := target{
		name:     "external cluster " + seeds,
		seeds:    strings.Split(seeds, ","),
		external: true,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := newAdmin(t, tg)
	configs, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil {
		t.Logf("describe broker configs on %s: %v; auto-create unknown", seeds, err)
		return tg
	}
	for _, rc := range configs {
		for _, c := range rc.Configs {
			if c.Key == "auto.create.topics.enable" && c.Value != nil {
				if on, err := strconv.ParseBool(*c.Value); err == nil {
					tg.autoCreate = autoCreateOff
					if on {
						tg.autoCreate = autoCreateOn
					}
				}
			}
		}
	}
	return tg
}

// startKfake starts a one-broker kfake that persists to a temp dir, so
// that Restart can close it and start a new one on the same port and dir.
func startKfake(t testing.TB, o brokerOpts) target {
	t.Helper()
	dir := t.TempDir()
	opts := func(port int) []kfake.Opt {
		kopts := []kfake.Opt{
			kfake.Ports(port),
			kfake.DataDir(dir),
			kfake.SyncWrites(),
			kfake.DefaultNumPartitions(1),
		}
		if o.autoCreate == autoCreateOn {
			kopts = append(kopts, kfake.AllowAutoTopicCreation())
		}
		return kopts
	}
	c, err := kfake.NewCluster(opts(0)...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	addr := c.ListenAddrs()[0]
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)

	tg := target{
		name:       "kfake",
		seeds:      []string{addr},
		autoCreate: autoCreateOff,
		quirks: map[string]string{
			quirkLegacyCodecs: "kfake advertises Produce v3-13, so librdkafka does not compress with gzip, snappy or lz4",
		},
	}
	if o.autoCreate == autoCreateOn {
		tg.autoCreate = autoCreateOn
	}
	tg.restart = func(t testing.TB) {
		c.Close()
		var err error
		// The port was just released; binding it again can race with
		// the kernel finishing the close, so retry briefly.
		checkFor(t, 10*time.Second, func() error {
			c, err = kfake.NewCluster(opts(port)...)
			return err
		})
		if err != nil {
			t.Fatalf("restart kfake: %v", err)
		}
	}
	t.Cleanup(func() { c.Close() })
	return tg
}

// newAdmin returns a kadm client for tg, closed when the test ends.
func newAdmin(t testing.TB, tg target, opts ...kgo.Opt) *kadm.Client {
	t.Helper()
	cl := newKgo(t, tg, opts...)
	return kadm.NewClient(cl)
}

// newKgo returns a franz-go client for tg, closed when the test ends.
func newKgo(t testing.TB, tg target, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(tg.seeds...),
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("new franz-go client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

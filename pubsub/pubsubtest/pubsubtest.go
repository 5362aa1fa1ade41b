// Package pubsubtest gives tests of the SDK (and of services built on it)
// a Kafka broker to run against, and the PostgreSQL server to use.
//
// Which broker, in order:
//
//  1. HERALD_TEST_BROKERS (comma-separated seed addresses), an external
//     cluster such as Herald, Apache Kafka or Redpanda;
//  2. franz-go's in-memory kfake cluster when HERALD_TEST_KFAKE=N, with N
//     brokers: 1 to compare Herald's behaviour with kfake's, 3 to run on a
//     cluster whose partition leaders and coordinators sit on different
//     brokers, and move every HERALD_TEST_LEADER_MOVES (e.g. 300ms), as
//     `make test-cluster` does;
//  3. Herald's in-process broker (heraldtest), the default.
//
// Topics are created by the caller through Topic, with a unique name per
// call, so tests may share an external cluster.
package pubsubtest

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/twmb/franz-go/pkg/kgo"
)

// UseHerald reports whether New starts Herald's in-process broker (the
// default) rather than kfake or an external cluster.
func UseHerald() bool { return os.Getenv(testenv.BrokersEnv) == "" && testenv.KfakeBrokers() == 0 }

// Broker is a running broker for one test.
type Broker struct {
	Seeds []string
	Kind  string // "external", "herald" or "kfake"
	tb    testing.TB
}

// New returns the broker the environment picks; it is closed when the test
// ends.
func New(tb testing.TB) *Broker {
	tb.Helper()
	if c := testenv.Brokers(tb); c.Kind != "" {
		return &Broker{Seeds: c.Seeds, Kind: c.Kind, tb: tb}
	}
	b := heraldtest.NewBroker(tb, heraldtest.WithDurability("none"))
	return &Broker{Seeds: []string{b.Addr()}, Kind: "herald", tb: tb}
}

// Addr is the first seed address.
func (b *Broker) Addr() string { return b.Seeds[0] }

var seq atomic.Int64

// Topic creates a new topic with a unique name starting with prefix and
// returns the name.
func (b *Broker) Topic(prefix string, partitions int32) string {
	b.tb.Helper()
	name := fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
	b.CreateTopic(name, partitions)
	return name
}

// CreateTopic creates topic name.
func (b *Broker) CreateTopic(name string, partitions int32) {
	b.tb.Helper()
	cl := b.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		b.tb.Fatalf("pubsubtest: create topic %s: %v", name, err)
	}
}

// Client returns a plain client for the broker, closed when the test ends.
func (b *Broker) Client(opts ...kgo.Opt) *kgo.Client {
	b.tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Seeds...)}, opts...)...)
	if err != nil {
		b.tb.Fatalf("pubsubtest: client: %v", err)
	}
	b.tb.Cleanup(cl.Close)
	return cl
}

// Group returns a unique consumer group name.
func Group(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

// PostgresDSN returns the PostgreSQL server for tests: HERALD_TEST_POSTGRES,
// default postgres://postgres@127.0.0.1:5432/test?sslmode=disable. When
// nothing listens there the test skips with a message under a plain go
// test, and fails under make test, which sets HERALD_REQUIRE_TOOLS=1
// (scripts/ensure-postgres.sh starts or installs the server).
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("HERALD_TEST_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	return testenv.Postgres(tb, dsn)
}

// UniqueName returns a SQL identifier unique to this test run, starting
// with prefix, for a table or schema that parallel runs must not share.
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s_%d_%d_%d", prefix, os.Getpid(), time.Now().UnixNano()%1e9, seq.Add(1))
}

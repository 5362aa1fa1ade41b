// Package brokertest gives the SDK's tests one Kafka broker to run against.
//
// Which broker, in order:
//
//  1. HERALD_TEST_BROKERS (comma-separated seed addresses), an external
//     cluster such as Herald, Apache Kafka or Redpanda;
//  2. Herald's in-process broker (heraldtest), once it supports consumer
//     groups: flip UseHerald to true;
//  3. franz-go's in-memory kfake cluster.
//
// Topics are created by the caller through Topic, with a unique name per
// call, so tests may share an external cluster.
package brokertest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// UseHerald switches the default broker from kfake to Herald's heraldtest.
// Set it to true (and uncomment the heraldtest branch in New) when Herald's
// consumer groups land.
const UseHerald = false

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
	if s := os.Getenv("HERALD_TEST_BROKERS"); s != "" {
		return &Broker{Seeds: strings.Split(s, ","), Kind: "external", tb: tb}
	}
	if UseHerald {
		// b := heraldtest.NewBroker(tb, heraldtest.WithDurability("none"))
		// return &Broker{Seeds: []string{b.Addr()}, Kind: "herald", tb: tb}
		tb.Fatal("brokertest: UseHerald is set but the heraldtest branch is commented out")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		tb.Fatalf("brokertest: start kfake: %v", err)
	}
	tb.Cleanup(c.Close)
	return &Broker{Seeds: c.ListenAddrs(), Kind: "kfake", tb: tb}
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
		b.tb.Fatalf("brokertest: create topic %s: %v", name, err)
	}
}

// Client returns a plain client for the broker, closed when the test ends.
func (b *Broker) Client(opts ...kgo.Opt) *kgo.Client {
	b.tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Seeds...)}, opts...)...)
	if err != nil {
		b.tb.Fatalf("brokertest: client: %v", err)
	}
	b.tb.Cleanup(cl.Close)
	return cl
}

// Group returns a unique consumer group name.
func Group(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

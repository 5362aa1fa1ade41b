package testenv

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// The environment variables that pick the cluster SDK, CLI and registry
// tests run against (see Brokers).
const (
	// BrokersEnv names an external cluster: comma-separated seeds.
	BrokersEnv = "HERALD_TEST_BROKERS"
	// KfakeEnv runs the tests on franz-go's in-memory kfake: "1" one
	// broker, "3" three brokers (partition leaders and group coordinators
	// spread over them).
	KfakeEnv = "HERALD_TEST_KFAKE"
	// LeaderMovesEnv, a duration such as "300ms", makes a multi-broker
	// kfake move every group and transaction coordinator to another
	// broker at that interval for as long as the test runs.
	LeaderMovesEnv = "HERALD_TEST_LEADER_MOVES"
	// PartitionMovesEnv=1 makes those moves shuffle partition leaders
	// too. kfake's OffsetForLeaderEpoch answers -1 for an epoch older
	// than the partition's when no batch has a newer one (a consumer
	// caught up when the leader moved), and franz-go then reports lost
	// records and resets the consumer to the log start: runs with it on
	// show that defect as duplicates and "lost records" errors, not
	// Herald's SDK's. Off by default for that reason.
	PartitionMovesEnv = "HERALD_TEST_PARTITION_MOVES"
)

// Cluster is what Brokers picked.
type Cluster struct {
	Seeds []string
	// Kind is "external", "kfake" or "" (none picked: the caller starts
	// Herald's in-process broker, the default).
	Kind string
	// Kfake is the in-memory cluster when Kind is "kfake".
	Kfake *kfake.Cluster
}

// KfakeBrokers is the number of kfake brokers HERALD_TEST_KFAKE asks
// for, 0 when it is unset or "0".
func KfakeBrokers() int {
	n, err := strconv.Atoi(os.Getenv(KfakeEnv))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Brokers returns the cluster the environment picks for tb: the external
// cluster in HERALD_TEST_BROKERS, else a kfake cluster of
// HERALD_TEST_KFAKE brokers (with leader moves when
// HERALD_TEST_LEADER_MOVES is set), else Kind "" and no seeds, meaning
// the caller's default (Herald in process). A kfake cluster is closed
// when the test ends.
func Brokers(tb testing.TB, opts ...kfake.Opt) Cluster {
	tb.Helper()
	if s := os.Getenv(BrokersEnv); s != "" {
		return Cluster{Seeds: strings.Split(s, ","), Kind: "external"}
	}
	n := KfakeBrokers()
	if n == 0 {
		return Cluster{}
	}
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(n)}, opts...)...)
	if err != nil {
		tb.Fatalf("testenv: start kfake with %d brokers: %v", n, err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go moveLeaders(c, n, stop, done)
	tb.Cleanup(func() {
		close(stop)
		<-done
		c.Close()
	})
	return Cluster{Seeds: c.ListenAddrs(), Kind: "kfake", Kfake: c}
}

// moveLeaders moves c's group and transaction coordinators (and with
// HERALD_TEST_PARTITION_MOVES=1 its partition leaders) every
// HERALD_TEST_LEADER_MOVES until stop closes. Clients see NOT_COORDINATOR
// (and NOT_LEADER_OR_FOLLOWER) and must follow, as they do when a real
// cluster's leadership moves. Partition leaders start spread over the
// brokers either way: kfake picks each partition's leader at random.
func moveLeaders(c *kfake.Cluster, brokers int, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	every, err := time.ParseDuration(os.Getenv(LeaderMovesEnv))
	if err != nil || every <= 0 || brokers < 2 {
		return
	}
	partitions := os.Getenv(PartitionMovesEnv) == "1"
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if partitions {
				c.ShufflePartitionLeaders()
			}
			c.RehashCoordinators()
		}
	}
}

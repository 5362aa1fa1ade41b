package testenv

import (
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
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
	// kfake move every partition leader and every group and transaction
	// coordinator to another broker at that interval for as long as the
	// test runs.
	LeaderMovesEnv = "HERALD_TEST_LEADER_MOVES"
	// BrokerRestartsEnv=1 adds, to those moves, a broker other than the
	// first going down and coming back every 8 intervals. Off in make
	// test: the stream package's exactly-once kill test then runs past
	// its deadline (progress, not correctness), and the rest passes.
	BrokerRestartsEnv = "HERALD_TEST_BROKER_RESTARTS"
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

// moveLeaders moves c's partition leaders and its group and transaction
// coordinators every HERALD_TEST_LEADER_MOVES until stop closes. Clients
// see NOT_LEADER_OR_FOLLOWER and NOT_COORDINATOR and must follow, as they
// do when a real cluster's leadership moves. Partition leaders start
// spread over the brokers either way: kfake picks each at random.
//
// A moved leader bumps the partition's epoch, and a consumer then asks
// OffsetForLeaderEpoch where the epoch it last read ends. kfake answers
// -1 when no batch has a newer epoch (a consumer that was caught up),
// where Kafka answers the log end offset, and franz-go then reports lost
// records and resets to the log start. A kfake log is never truncated
// (one copy, no unclean election), so the truthful answer is always "no
// divergence": moveLeaders answers OffsetForLeaderEpoch itself with the
// partition's current epoch and an end offset past any position.
func moveLeaders(c *kfake.Cluster, brokers int, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	every, err := time.ParseDuration(os.Getenv(LeaderMovesEnv))
	if err != nil || every <= 0 || brokers < 2 {
		return
	}
	c.ControlKey(int16(kmsg.OffsetForLeaderEpoch), noDivergence(c))
	addrs := c.ListenAddrs()
	restarts := os.Getenv(BrokerRestartsEnv) == "1"
	t := time.NewTicker(every)
	defer t.Stop()
	for tick := 1; ; tick++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		// With HERALD_TEST_BROKER_RESTARTS=1, every 8th tick one broker
		// other than the first (tests dial the first seed) goes down,
		// and comes back on its port 4 ticks later: a broker restart,
		// as far as kfake allows one.
		switch node := int32(1 + (tick/8)%(brokers-1)); {
		case restarts && tick%8 == 0:
			_ = c.RemoveNode(node)
		case restarts && tick%8 == 4:
			_, port, _ := net.SplitHostPort(addrs[node])
			p, _ := strconv.Atoi(port)
			_, _, _ = c.AddNode(node, p)
		default:
			c.ShufflePartitionLeaders()
			c.RehashCoordinators()
		}
	}
}

// noDivergence is the OffsetForLeaderEpoch answer of a log that was never
// truncated: each partition's epoch ends past any offset a consumer holds.
func noDivergence(c *kfake.Cluster) func(kmsg.Request) (kmsg.Response, error, bool) {
	return func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
		resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetForLeaderEpochResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.LeaderEpoch = rp.LeaderEpoch
				if rp.CurrentLeaderEpoch > sp.LeaderEpoch {
					sp.LeaderEpoch = rp.CurrentLeaderEpoch
				}
				sp.EndOffset = math.MaxInt64
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	}
}

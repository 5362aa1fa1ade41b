package group_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/heraldtestutil"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/testenv"
)

// checkFor polls cond until it returns nil; see testenv.CheckFor.
var checkFor = testenv.CheckFor

// ledger records which records were processed, and how often.
type ledger struct {
	mu   sync.Mutex
	seen map[string]int
	dups int
}

func newLedger() *ledger { return &ledger{seen: map[string]int{}} }

func (l *ledger) add(v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen[v]++
	if l.seen[v] > 1 {
		l.dups++
	}
}

// missing returns how many of the n records produced were never seen.
func (l *ledger) missing(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := 0
	for i := 0; i < n; i++ {
		if l.seen[strconv.Itoa(i)] == 0 {
			m++
		}
	}
	return m
}

func (l *ledger) duplicates() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dups
}

// producer writes records "0", "1", ... to topic until stopped.
type producer struct {
	cl    *kgo.Client
	topic string
	mu    sync.Mutex
	n     int
	stop  chan struct{}
	done  chan struct{}
}

func startProducer(t *testing.T, addr, topic string) *producer {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	p := &producer{cl: cl, topic: topic, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			p.mu.Lock()
			v := strconv.Itoa(p.n)
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				p.mu.Unlock()
				t.Errorf("produce: %v", err)
				return
			}
			p.n++
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() { p.finish(); cl.Close() })
	return p
}

// finish stops producing and returns how many records were produced.
func (p *producer) finish() int {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	return p.n
}

func createTopic(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
}

// member is one consumer of a group under test.
type member interface {
	// close leaves the group cleanly (commit, leave) or, with crash,
	// vanishes without leaving or committing what it processed since its
	// last commit.
	close(crash bool)
}

// franzMember consumes with franz-go: it commits after each poll, with
// rebalances blocked while it processes, so a clean handover never
// repeats a record.
type franzMember struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func newFranzMember(t *testing.T, addr, group, topic string, l *ledger, opts ...kgo.Opt) *franzMember {
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(300 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &franzMember{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				cl.AllowRebalance()
				return
			}
			fs.EachRecord(func(r *kgo.Record) { l.add(string(r.Value)) })
			if err := cl.CommitUncommittedOffsets(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Logf("commit: %v", err)
			}
			cl.AllowRebalance()
		}
	}()
	return m
}

func (m *franzMember) close(crash bool) {
	m.cancel()
	<-m.done
	if crash {
		m.cl.PurgeTopicsFromClient() // nothing more is fetched
		m.cl.CloseAllowingRebalance()
		return
	}
	m.cl.Close()
}

func TestFranzRange(t *testing.T) {
	testGroupChurn(t, franzFactory(kgo.Balancers(kgo.RangeBalancer())))
}

func franzFactory(opts ...kgo.Opt) func(t *testing.T, addr, group, topic string, l *ledger) member {
	return func(t *testing.T, addr, group, topic string, l *ledger) member {
		return newFranzMember(t, addr, group, topic, l, opts...)
	}
}

// testGroupChurn runs a group through joins and clean leaves while
// records flow, and checks every record is processed exactly once.
func testGroupChurn(t *testing.T, mk func(t *testing.T, addr, group, topic string, l *ledger) member, opts ...heraldtest.Option) {
	testGroupChurnDups(t, mk, true, opts...)
}

// testGroupChurnDups is testGroupChurn; exact false tolerates duplicates,
// for clients that may process a record fetched for a partition they
// have already given up.
func testGroupChurnDups(t *testing.T, mk func(t *testing.T, addr, group, topic string, l *ledger) member, exact bool, opts ...heraldtest.Option) {
	b := heraldtest.NewBroker(t, append([]heraldtest.Option{heraldtest.WithDurability("none")}, opts...)...)
	topic, grp := "churn", "g-churn"
	createTopic(t, b.Addr(), topic, 6)
	l := newLedger()
	p := startProducer(t, b.Addr(), topic)
	ms := []member{mk(t, b.Addr(), grp, topic, l)}
	time.Sleep(500 * time.Millisecond)
	ms = append(ms, mk(t, b.Addr(), grp, topic, l), mk(t, b.Addr(), grp, topic, l))
	time.Sleep(1500 * time.Millisecond)
	for _, g := range heraldtestutil.Server(b).Groups().List() {
		if g.ID == grp {
			t.Logf("group %s: type %s, state %s", g.ID, g.Type, g.State)
			if want := groupTypeFor(t); g.Type != want {
				t.Errorf("group type %s, want %s", g.Type, want)
			}
		}
	}
	ms[0].close(false)
	time.Sleep(time.Second)
	ms = append(ms[1:], mk(t, b.Addr(), grp, topic, l))
	time.Sleep(time.Second)
	n := p.finish()
	checkFor(t, 20*time.Second, func() error {
		if m := l.missing(n); m > 0 {
			return fmt.Errorf("%d of %d records not processed", m, n)
		}
		return nil
	})
	if d := l.duplicates(); d > 0 && exact {
		t.Errorf("%d records processed twice after clean handovers", d)
	}
	for _, m := range ms {
		m.close(false)
	}
	t.Logf("%d records, %d duplicates", n, l.duplicates())
}

func TestFranzCooperativeSticky(t *testing.T) {
	testGroupChurn(t, franzFactory(kgo.Balancers(kgo.CooperativeStickyBalancer())))
}

// TestSaramaRange checks exactly-once processing across clean handovers.
// sarama's ConsumeClaim goroutines commit concurrently and its offset
// manager does not wait for one commit's answer before sending the next
// on the same connection (offset_manager.go flushToBrokerFor: "Don't want
// to defer the unlock as this would cause the lock to be held while
// waiting for the broker to reply"); Herald once applied such pipelined
// commits out of order, which set an offset back and repeated a record at
// a handover (about 1 in 1,200 under -race). See request.commitInOrder.
func TestSaramaRange(t *testing.T) {
	testGroupChurn(t, func(t *testing.T, addr, group, topic string, l *ledger) member {
		return newSaramaMember(t, addr, group, topic, l, sarama.NewBalanceStrategyRange())
	})
}

// TestKafkaGo checks at-least-once only, because kafka-go's Reader repeats
// records at a clean handover whatever the broker does. Nothing holds a
// rebalance back while the application processes a message: the group's
// generation ends once the Reader's own goroutines (commit loop,
// unsubscribe) return (consumergroup.go Generation.close), not when the
// message FetchMessage handed out is committed. A CommitMessages that
// comes after that reaches the next generation's commit loop (Reader.commits
// is shared across generations) and is stored with the new generation id,
// which Kafka accepts too: by then the partition's new owner may already
// have fetched the older committed offset and reads the record again.
// FetchMessage's version check (reader.go) drops only queued messages of
// a generation older than the one current when the call began.
func TestKafkaGo(t *testing.T) {
	testGroupChurnDups(t, func(t *testing.T, addr, group, topic string, l *ledger) member {
		return newKafkaGoMember(t, addr, group, topic, l)
	}, false)
}

// groupTypeFor is the group type a churn test expects.
func groupTypeFor(t *testing.T) string {
	if strings.Contains(t.Name(), "KIP848") {
		return "consumer"
	}
	return "classic"
}

// TestFranzKIP848 runs the churn with the KIP-848 protocol: the broker
// assigns partitions and moves them incrementally.
func TestFranzKIP848(t *testing.T) {
	testGroupChurn(t, franzFactory(kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer())),
		heraldtestutil.WithConfig(func(c *server.Config) {
			c.Groups.Consumer.HeartbeatInterval = 200 * time.Millisecond
			c.Groups.Consumer.Session = 6 * time.Second
		}))
}

// TestFranzCrash crashes members (no LeaveGroup, no last commit): the
// session timeout removes them and their partitions move; every record is
// still processed.
func TestFranzCrash(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  kgo.Opt
	}{
		{"range", kgo.Balancers(kgo.RangeBalancer())},
		{"cooperative-sticky", kgo.Balancers(kgo.CooperativeStickyBalancer())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := heraldtest.NewBroker(t, heraldtest.WithDurability("none"))
			topic, grp := "crash", "g-crash"
			createTopic(t, b.Addr(), topic, 4)
			l := newLedger()
			p := startProducer(t, b.Addr(), topic)
			mk := crashableFranzFactory(tc.opt)
			ms := []member{mk(t, b.Addr(), grp, topic, l), mk(t, b.Addr(), grp, topic, l), mk(t, b.Addr(), grp, topic, l)}
			time.Sleep(1500 * time.Millisecond)
			ms[0].close(true)
			start := time.Now()
			checkFor(t, 15*time.Second, func() error {
				d, _ := heraldtestutil.Server(b).Groups().Describe(grp)
				if len(d.Members) != 2 || d.State.String() != "Stable" {
					return fmt.Errorf("group %s with %d members", d.State, len(d.Members))
				}
				return nil
			})
			t.Logf("crashed member removed and group stable after %v", time.Since(start).Round(time.Millisecond))
			n := p.finish()
			checkFor(t, 20*time.Second, func() error {
				if m := l.missing(n); m > 0 {
					return fmt.Errorf("%d of %d records not processed", m, n)
				}
				return nil
			})
			for _, m := range ms[1:] {
				m.close(false)
			}
			t.Logf("%d records, %d processed again after the crash", n, l.duplicates())
		})
	}
}

package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// TestWorkQueue: four routers in work-queue mode share one partition.
// Every message is handled successfully exactly once; messages that fail
// their first attempt come back (Attempt 2, redelivered by the broker);
// a message that always fails goes to the dead-letter topic once, after
// MaxAttempts, and is not delivered again.
//
// Delivery is at least once: an acknowledgement the broker refuses (on a
// cluster whose partition leaders move, make test-cluster: the new
// leader does not hold the old leader's acquisitions) brings its records
// back. Redeliveries are tolerated only once the routers logged a refused
// acknowledgement, which on one broker must not happen.
func TestWorkQueue(t *testing.T) {
	b := pubsubtest.New(t)
	topic := b.Topic("wq", 1)
	b.CreateTopic(topic+".dlq", 1)
	group := pubsubtest.Group("wq")
	const n, poison = 200, 7

	var mu sync.Mutex
	handled := map[int]int{}    // successes per message
	attempts := map[int][]int{} // Message.Attempt of each call
	routers := map[int]bool{}   // routers that handled something
	refused := &ackRefusals{}
	for i := range 4 {
		cfg := testConfig(b, group)
		cfg.Logger = slog.New(refused)
		cfg.WorkQueue, cfg.MaxAttempts, cfg.Workers = true, 3, 4
		cfg.ClientOpts = append(cfg.ClientOpts, kgo.ShareMaxRecords(10))
		r := newRouter(t, cfg)
		if err := r.Handle(topic, func(_ context.Context, m *pubsub.Message) error {
			k, _ := strconv.Atoi(m.Event.Key)
			mu.Lock()
			defer mu.Unlock()
			attempts[k] = append(attempts[k], m.Attempt)
			if k == poison || (k%10 == 0 && m.Attempt == 1) {
				return errors.New("failed")
			}
			handled[k]++
			routers[i] = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		start(t, r)
	}
	admin := b.Client()
	waitFor(t, 20*time.Second, "four members in the share group", func() bool {
		req := kmsg.NewPtrShareGroupDescribeRequest()
		req.GroupIDs = []string{group}
		resp, err := req.RequestWith(context.Background(), admin)
		return err == nil && len(resp.Groups) == 1 && len(resp.Groups[0].Members) == 4
	})
	pub := pubsub.NewPublisher(admin)
	var evs []event.Event
	for k := range n {
		evs = append(evs, seqEvent(strconv.Itoa(k), k))
	}
	publish(t, pub, topic, evs...)

	dlq := dlqRecords(t, b, topic+".dlq")
	// A refused acknowledgement is not sent again (kgo does not: Kafka
	// drops a partition's acquisition locks when its leader moves), and
	// kfake, which keeps them, delivers its records again when the lock
	// times out (30s): with leaders moving, a record can wait out more
	// than one lock.
	moving := os.Getenv(testenv.LeaderMovesEnv) != ""
	deadline := time.Now().Add(60 * time.Second)
	if moving {
		deadline = time.Now().Add(3 * time.Minute)
	}
	for {
		mu.Lock()
		if len(handled) == n-1 && len(dlq()) >= 1 {
			break // mu held for the checks below
		}
		if time.Now().After(deadline) {
			missing := map[int][]int{} // attempts of the messages not handled
			for k := range n {
				if k != poison && handled[k] == 0 {
					missing[k] = attempts[k]
				}
			}
			msg := fmt.Sprintf("timed out: not handled (attempts) %v; poison attempts %v; %d dead letters; %d acknowledgements refused",
				missing, attempts[poison], len(dlq()), refused.n.Load())
			mu.Unlock() // the handlers take mu: unlocked, the routers can stop
			t.Fatal(msg)
		}
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	defer mu.Unlock()
	lost := refused.n.Load()
	if !moving && lost > 0 {
		t.Errorf("%d acknowledgements refused with no leader moving", lost)
	}
	// Each refused acknowledgement may bring its records back once more:
	// want is then a prefix of the attempts, and a refused REJECT of the
	// poison message dead-letters it again.
	again := lost > 0
	for k, c := range handled {
		if c != 1 && !again {
			t.Errorf("message %d handled successfully %d times", k, c)
		}
	}
	for k := 0; k < n; k += 10 {
		if got := attempts[k]; !attemptsAre(got, again, 1, 2) {
			t.Errorf("message %d attempts %v, want [1 2]", k, got)
		}
	}
	if got := attempts[poison]; !attemptsAre(got, again, 1, 2, 3) {
		t.Errorf("poison attempts %v, want [1 2 3]", got)
	}
	dead := dlq()
	if len(dead) != 1 && !again {
		t.Errorf("%d dead letters, want 1", len(dead))
	}
	for _, d := range dead {
		if string(d.Key) != strconv.Itoa(poison) {
			t.Errorf("dead letter key %q", d.Key)
		}
	}
	if again {
		dups := 0
		for _, c := range handled {
			if c > 1 {
				dups++
			}
		}
		t.Logf("%d acknowledgements refused; redeliveries tolerated: %d messages handled more than once, poison attempts %v, %d dead letters",
			lost, dups, attempts[poison], len(dead))
	}
	if len(routers) < 2 {
		t.Errorf("only routers %v handled messages; the partition was not shared", routers)
	}
}

// attemptsAre reports whether got is want, or, when prefix, starts with
// want.
func attemptsAre(got []int, prefix bool, want ...int) bool {
	if len(got) < len(want) || (!prefix && len(got) != len(want)) {
		return false
	}
	return slices.Equal(got[:len(want)], want)
}

// ackRefusals is a slog.Handler that counts the routers' logs of refused
// share-group acknowledgements and drops everything else.
type ackRefusals struct{ n atomic.Int64 }

func (a *ackRefusals) Enabled(context.Context, slog.Level) bool { return true }
func (a *ackRefusals) WithAttrs([]slog.Attr) slog.Handler       { return a }
func (a *ackRefusals) WithGroup(string) slog.Handler            { return a }
func (a *ackRefusals) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "acknowledgements not applied") {
		a.n.Add(1)
	}
	return nil
}

// dlqRecords consumes topic in the background and returns a snapshot
// function of what it read.
func dlqRecords(t *testing.T, b *pubsubtest.Broker, topic string) func() []*kgo.Record {
	cl := b.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []*kgo.Record
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			mu.Lock()
			got = append(got, fs.Records()...)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() []*kgo.Record {
		mu.Lock()
		defer mu.Unlock()
		return append([]*kgo.Record(nil), got...)
	}
}

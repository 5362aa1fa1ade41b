package pubsub_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
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
	for i := range 4 {
		cfg := testConfig(b, group)
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
	waitFor(t, 60*time.Second, "every message handled and the poison one dead-lettered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == n-1 && len(dlq()) == 1
	})
	mu.Lock()
	defer mu.Unlock()
	// Share groups deliver at least once: on a cluster whose partition
	// leaders move (make test-cluster), acknowledgements sent to a leader
	// that has just moved are lost and those records come again.
	moving := os.Getenv(testenv.LeaderMovesEnv) != ""
	for k, c := range handled {
		if c != 1 && (!moving || c < 1) {
			t.Errorf("message %d handled successfully %d times", k, c)
		}
	}
	for k := 0; k < n; k += 10 {
		if got := attempts[k]; (len(got) != 2 && (!moving || len(got) < 2)) || got[0] != 1 || got[1] != 2 {
			t.Errorf("message %d attempts %v, want [1 2]", k, got)
		}
	}
	if got := attempts[poison]; len(got) != 3 || got[2] != 3 {
		t.Errorf("poison attempts %v, want [1 2 3]", got)
	}
	if d := dlq()[0]; string(d.Key) != strconv.Itoa(poison) {
		t.Errorf("dead letter key %q", d.Key)
	}
	if len(routers) < 2 {
		t.Errorf("only routers %v handled messages; the partition was not shared", routers)
	}
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

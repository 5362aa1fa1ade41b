package pubsub_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

func headerMap(r *kgo.Record) map[string]string {
	m := map[string]string{}
	for _, h := range r.Headers {
		m[h.Key] = string(h.Value)
	}
	return m
}

// readAll reads n records of topic from the start.
func readAll(t *testing.T, b *pubsubtest.Broker, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := b.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read %s: have %d of %d: %v", topic, len(out), n, err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// TestDeadLetterAndRedrive: a poisoned event and a panicking one reach the
// DLQ with their headers after MaxAttempts (later events of the key wait
// for it, then flow); re-driven once the handler is fixed, they are
// handled, and a second Redrive re-drives nothing.
func TestDeadLetterAndRedrive(t *testing.T) {
	b := pubsubtest.New(t)
	topic := b.Topic("poison", 1)
	dlq := topic + ".dlq"
	b.CreateTopic(dlq, 1)
	poison := seqEvent("k", 0)
	poison.Data = []byte("poison")
	boom := seqEvent("p", 0)
	boom.Data = []byte("panic")
	publish(t, pubsub.NewPublisher(b.Client()), topic, poison, seqEvent("k", 1), boom)

	var fixed atomic.Bool
	var mu sync.Mutex
	var handled []string
	attempts := map[string]int{}
	cfg := testConfig(b, pubsubtest.Group("poison"))
	cfg.MaxAttempts = 3
	r := newRouter(t, cfg)
	r.Handle(topic, func(_ context.Context, m *pubsub.Message) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[m.Event.ID]++
		switch d := string(m.Event.Data); {
		case d == "poison" && !fixed.Load():
			return errors.New("cannot digest")
		case d == "panic" && !fixed.Load():
			panic("boom")
		default:
			handled = append(handled, m.Event.Key+":"+d)
		}
		return nil
	})
	start(t, r)

	letters := readAll(t, b, dlq, 2)
	byID := map[string]map[string]string{}
	for _, l := range letters {
		h := headerMap(l)
		byID[h["ce_id"]] = h
	}
	for _, tc := range []struct {
		ev     event.Event
		errSub string
		offset int
	}{{poison, "cannot digest", 0}, {boom, "handler panic: boom", 2}} {
		h := byID[tc.ev.ID]
		if h == nil {
			t.Fatalf("event %s not in the DLQ: %v", tc.ev.Data, byID)
		}
		want := map[string]string{
			pubsub.HeaderDLQError: tc.errSub, pubsub.HeaderDLQAttempts: "3",
			pubsub.HeaderDLQTopic: topic, pubsub.HeaderDLQPartition: "0",
			pubsub.HeaderDLQOffset: strconv.Itoa(tc.offset), pubsub.HeaderDLQGroup: cfg.Group,
			"ce_type": "test.seq",
		}
		for k, v := range want {
			if h[k] != v {
				t.Errorf("%s: header %s = %q, want %q", tc.ev.Data, k, h[k], v)
			}
		}
	}
	waitFor(t, 5*time.Second, "k:1 after the poison", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == 1 && handled[0] == "k:1"
	})

	fixed.Store(true)
	ctx := context.Background()
	opts := pubsub.RedriveOptions{Group: pubsubtest.Group("redrive")}
	res, err := pubsub.Redrive(ctx, b.Client(), dlq, opts)
	if err != nil || res.Redriven != 2 {
		t.Fatalf("Redrive: %+v, %v", res, err)
	}
	waitFor(t, 10*time.Second, "re-driven events handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == 3
	})
	res, err = pubsub.Redrive(ctx, b.Client(), dlq, opts)
	if err != nil || res.Redriven != 0 {
		t.Fatalf("second Redrive: %+v, %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts[poison.ID] != 4 || attempts[boom.ID] != 4 {
		t.Fatalf("attempts %v: want 3 before the DLQ and 1 after re-drive", attempts)
	}
}

// TestPermanentSkipsRetries: a Permanent error goes to the DLQ at once.
func TestPermanentSkipsRetries(t *testing.T) {
	b := pubsubtest.New(t)
	topic := b.Topic("perm", 1)
	b.CreateTopic(topic+".dlq", 1)
	publish(t, pubsub.NewPublisher(b.Client()), topic, seqEvent("k", 0))
	var calls atomic.Int32
	r := newRouter(t, testConfig(b, pubsubtest.Group("perm")))
	r.Handle(topic, func(context.Context, *pubsub.Message) error {
		calls.Add(1)
		return pubsub.Permanent(errors.New("bad input"))
	})
	start(t, r)
	l := readAll(t, b, topic+".dlq", 1)[0]
	if h := headerMap(l); h[pubsub.HeaderDLQAttempts] != "1" || calls.Load() != 1 {
		t.Fatalf("attempts header %q, calls %d", h[pubsub.HeaderDLQAttempts], calls.Load())
	}
}

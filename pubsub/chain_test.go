package pubsub_test

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

type order struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

// TestCorrelationChain: placed -> paid -> shipped -> delivered, each hop
// published from the previous hop's handler with its context. Every event
// shares the first one's correlation id and names its parent as cause.
func TestCorrelationChain(t *testing.T) {
	b := pubsubtest.New(t)
	topics := []string{b.Topic("hop0", 2), b.Topic("hop1", 2), b.Topic("hop2", 2), b.Topic("hop3", 2)}
	pub := pubsub.NewPublisher(b.Client(), pubsub.WithSource("/chain"))
	var mu sync.Mutex
	got := map[int]event.Event{}
	r := newRouter(t, testConfig(b, pubsubtest.Group("chain")))
	for i, topic := range topics {
		r.Handle(topic, pubsub.Typed(event.JSON, func(ctx context.Context, m *pubsub.Message, o order) error {
			mu.Lock()
			got[i] = m.Event
			mu.Unlock()
			if i+1 == len(topics) {
				return nil
			}
			_, err := pub.PublishValue(ctx, topics[i+1], "hop", o.ID, o)
			return err
		}))
	}
	start(t, r)
	root, err := pub.PublishValue(context.Background(), topics[0], "hop", "o-1", order{ID: "o-1", Total: 7})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the last hop", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == len(topics)
	})
	mu.Lock()
	defer mu.Unlock()
	if got[0].ID != root.ID || got[0].CorrelationID != root.ID || got[0].CausationID != "" {
		t.Fatalf("root: %+v", got[0])
	}
	for i := 1; i < len(topics); i++ {
		e := got[i]
		if e.CorrelationID != root.ID || e.CausationID != got[i-1].ID || e.Key != "o-1" || e.Source != "/chain" {
			t.Fatalf("hop %d: correlation %s causation %s key %s, want %s %s o-1", i, e.CorrelationID, e.CausationID, e.Key, root.ID, got[i-1].ID)
		}
	}
}

// TestKcatSeesHeaders: a librdkafka consumer reads the CloudEvents headers.
func TestKcatSeesHeaders(t *testing.T) {
	testenv.Tool(t, "kcat", "scripts/ensure-tools.sh (as root) installs the Debian package kcat")
	b := pubsubtest.New(t)
	topic := b.Topic("kcat", 1)
	pub := pubsub.NewPublisher(b.Client(), pubsub.WithSource("/kcat"))
	e, err := pub.PublishValue(context.Background(), topic, "com.example.kcat", "k1", order{ID: "1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "kcat", "-b", b.Addr(), "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", `%h\n`).CombinedOutput()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	for _, want := range []string{
		"ce_specversion=1.0", "ce_id=" + e.ID, "ce_source=/kcat", "ce_type=com.example.kcat",
		"ce_time=" + e.Time.Format(time.RFC3339Nano), "content-type=application/json", "ce_correlationid=" + e.ID,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kcat output lacks %q:\n%s", want, out)
		}
	}
}

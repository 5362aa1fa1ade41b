package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

const poisonMaxAttempts = 3

// TestPoisonAcrossRestarts: a message whose handler kills the process
// (os.Exit in a child process, which the test restarts each time it dies)
// reaches the dead-letter topic after exactly MaxAttempts attempts in all,
// and the messages after it, of its key and of others, are handled.
func TestPoisonAcrossRestarts(t *testing.T) {
	if os.Getenv("PUBSUB_POISON_CHILD") == "1" {
		poisonChild(t)
		return
	}
	b := pubsubtest.New(t)
	topic := b.Topic("crash", 1)
	dlq := topic + ".dlq"
	b.CreateTopic(dlq, 1)
	ev := func(key, data string) event.Event {
		e := event.New("/test", "test.crash", []byte(data))
		e.Key = key
		return e
	}
	publish(t, pubsub.NewPublisher(b.Client()), topic,
		ev("a", "a0"), ev("p", "poison"), ev("a", "a1"), ev("b", "b0"), ev("p", "p1"))
	dir := t.TempDir()
	group := pubsubtest.Group("crash")
	handledAll := func() bool {
		data, _ := os.ReadFile(filepath.Join(dir, "handled"))
		for _, want := range []string{"a0", "a1", "b0", "p1"} {
			if !strings.Contains(string(data), want+"\n") {
				return false
			}
		}
		return true
	}
	var letters []*kgo.Record
	for run := 1; ; run++ {
		if run > poisonMaxAttempts+3 {
			t.Fatalf("still not done after %d runs", run-1)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestPoisonAcrossRestarts$", "-test.count=1")
		cmd.Env = append(os.Environ(), "PUBSUB_POISON_CHILD=1", "PUBSUB_SEEDS="+strings.Join(b.Seeds, ","),
			"PUBSUB_TOPIC="+topic, "PUBSUB_GROUP="+group, "PUBSUB_DIR="+dir)
		out := &syncBuf{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var err error
		deadline := time.Now().Add(60 * time.Second)
	wait:
		for {
			select {
			case err = <-exited:
				break wait
			case <-time.After(50 * time.Millisecond):
			}
			if dlqLen(t, b, dlq) > 0 && handledAll() {
				_ = cmd.Process.Kill()
				<-exited
				letters = readAll(t, b, dlq, 1)
				break
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				t.Fatalf("run %d neither crashed nor finished; output:\n%s", run, out.String())
			}
		}
		if letters != nil {
			break
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("run %d ended with %v, want the poison's exit 2; output:\n%s", run, err, out.String())
		}
	}
	attempts, _ := os.ReadFile(filepath.Join(dir, "attempts"))
	if n := strings.Count(string(attempts), "\n"); n != poisonMaxAttempts {
		t.Fatalf("the poison was attempted %d times, want exactly %d", n, poisonMaxAttempts)
	}
	h := headerMap(letters[0])
	if string(letters[0].Value) != "poison" || h[pubsub.HeaderDLQAttempts] != fmt.Sprint(poisonMaxAttempts) || !strings.Contains(h[pubsub.HeaderDLQError], "did not finish") {
		t.Fatalf("dead letter %q: attempts %q, error %q", letters[0].Value, h[pubsub.HeaderDLQAttempts], h[pubsub.HeaderDLQError])
	}
	if n := dlqLen(t, b, dlq); n != 1 {
		t.Fatalf("DLQ holds %d records, want 1", n)
	}
}

// poisonChild runs the router of TestPoisonAcrossRestarts until it is
// killed; the poison's handler notes the attempt and exits the process.
func poisonChild(t *testing.T) {
	dir := os.Getenv("PUBSUB_DIR")
	appendLine := func(file, line string) {
		f, err := os.OpenFile(filepath.Join(dir, file), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			panic(err)
		}
		defer f.Close()
		if _, err := f.WriteString(line + "\n"); err != nil {
			panic(err)
		}
	}
	r, err := pubsub.NewRouter(pubsub.RouterConfig{
		Brokers:        strings.Split(os.Getenv("PUBSUB_SEEDS"), ","),
		Group:          os.Getenv("PUBSUB_GROUP"),
		MaxAttempts:    poisonMaxAttempts,
		Backoff:        pubsub.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
		CommitInterval: 50 * time.Millisecond,
		Logger:         quiet,
		// Static membership: a restarted child takes its dead self's place
		// at once instead of waiting out its session.
		ClientOpts: []kgo.Opt{kgo.InstanceID("poison-child"), kgo.FetchMaxWait(100 * time.Millisecond)},
	})
	if err != nil {
		t.Fatal(err)
	}
	topic := os.Getenv("PUBSUB_TOPIC")
	if err := r.Handle(topic, func(_ context.Context, m *pubsub.Message) error {
		if string(m.Event.Data) == "poison" {
			appendLine("attempts", fmt.Sprint(m.Attempt))
			os.Exit(2)
		}
		appendLine("handled", string(m.Event.Data))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_ = r.Run(context.Background())
}

// TestAttemptsSurviveRebalance: a message fails twice in one router,
// which then stops (its partition goes to another member); the next
// router goes on from attempt 3 and dead-letters it after MaxAttempts in
// all.
func TestAttemptsSurviveRebalance(t *testing.T) {
	b := pubsubtest.New(t)
	topic := b.Topic("rebalance", 1)
	dlq := topic + ".dlq"
	b.CreateTopic(dlq, 1)
	publish(t, pubsub.NewPublisher(b.Client()), topic, seqEvent("k", 0))
	cfg := testConfig(b, pubsubtest.Group("rebalance"))
	cfg.MaxAttempts = 4
	// The second retry would come after an hour: the router stops first.
	cfg.Backoff = pubsub.Backoff{Initial: time.Millisecond, Multiplier: 1e7, Max: time.Hour}
	var first atomic.Int32
	r1 := newRouter(t, cfg)
	r1.Handle(topic, func(context.Context, *pubsub.Message) error { first.Add(1); return errors.New("fails") })
	stop := start(t, r1)
	waitFor(t, 10*time.Second, "two failed attempts", func() bool { return first.Load() == 2 })
	stop()

	var mu sync.Mutex
	var seen []int
	cfg.Backoff = pubsub.Backoff{Initial: time.Millisecond}
	r2 := newRouter(t, cfg)
	r2.Handle(topic, func(_ context.Context, m *pubsub.Message) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, m.Attempt)
		return errors.New("fails")
	})
	start(t, r2)
	l := readAll(t, b, dlq, 1)[0]
	mu.Lock()
	defer mu.Unlock()
	if h := headerMap(l); h[pubsub.HeaderDLQAttempts] != "4" || !slices.Equal(seen, []int{3, 4}) || first.Load() != 2 {
		t.Fatalf("first router %d attempts, second saw attempts %v, DLQ attempts %q; want 2, [3 4], 4", first.Load(), seen, h[pubsub.HeaderDLQAttempts])
	}
}

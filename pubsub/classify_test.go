package pubsub_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/event/srcodec"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
	"github.com/heraldhq/herald/registry"
	"github.com/heraldhq/herald/registry/serde"
)

// restartableRegistry is Herald's schema registry served on a fixed
// address that can stop answering (its server closed) and come back.
type restartableRegistry struct {
	t    *testing.T
	srv  *registry.Server
	addr string
	hs   *http.Server
	done chan struct{}
}

func startRegistry(t *testing.T, b *pubsubtest.Broker) *restartableRegistry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := registry.New(ctx, registry.Config{Brokers: b.Seeds, Topic: "_schemas_" + pubsubtest.Group("classify")})
	if err != nil {
		t.Fatal(err)
	}
	r := &restartableRegistry{t: t, srv: srv, addr: "127.0.0.1:0"}
	r.start()
	t.Cleanup(func() { r.stop(); srv.Close() })
	return r
}

func (r *restartableRegistry) url() string { return "http://" + r.addr }

func (r *restartableRegistry) start() {
	r.t.Helper()
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("registry listen %s: %v", r.addr, err)
	}
	r.addr = ln.Addr().String()
	r.hs = &http.Server{Handler: r.srv.Handler()}
	r.done = make(chan struct{})
	go func() { defer close(r.done); _ = r.hs.Serve(ln) }()
}

func (r *restartableRegistry) stop() {
	if r.hs != nil {
		_ = r.hs.Close()
		<-r.done
		r.hs = nil
	}
}

type srOrder struct {
	ID  string `avro:"id"`
	Qty int64  `avro:"qty"`
}

const (
	srOrderAvro  = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"qty","type":"long"}]}`
	srOrderAvro2 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"qty","type":"long"},{"name":"note","type":"string","default":""}]}`
)

// TestRegistryOutageIsTransient: the schema registry stops answering
// while events whose schema the router has not seen yet arrive. Their
// decode failures are transient: retried past MaxAttempts, none reaches
// the dead-letter topic, and once the registry is back every one is
// handled. Bad data is still permanent: bytes not in the wire format and
// a schema id the registry does not have go to the DLQ at once.
func TestRegistryOutageIsTransient(t *testing.T) {
	b := pubsubtest.New(t)
	reg := startRegistry(t, b)
	topic := b.Topic("classify", 1)
	dlq := topic + ".dlq"
	b.CreateTopic(dlq, 1)
	ctx := context.Background()

	pcl, err := sr.NewClient(sr.URLs(reg.url()))
	if err != nil {
		t.Fatal(err)
	}
	enc1 := srcodec.AutoRegister(pcl, sr.Schema{Type: sr.TypeAvro, Schema: srOrderAvro})
	enc2 := srcodec.AutoRegister(pcl, sr.Schema{Type: sr.TypeAvro, Schema: srOrderAvro2},
		srcodec.Subject(func(string, string) string { return "classify-other-value" }))
	encode := func(c event.Codec, id string) event.Event {
		e, err := event.Encode(ctx, c, topic, "/shop", "order.placed", srOrder{ID: id, Qty: 1})
		if err != nil {
			t.Fatal(err)
		}
		e.Key = id
		return e
	}
	notWire := event.New("/shop", "order.placed", []byte("{not the wire format}"))
	notWire.Key = "bad-1"
	noSchema := event.New("/shop", "order.placed", serde.AppendHeader(nil, 987654))
	noSchema.Key = "bad-2"

	var mu sync.Mutex
	handled := map[string]int{}
	var transient atomic.Int64
	dcl, err := sr.NewClient(sr.URLs(reg.url()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(b, pubsubtest.Group("classify"))
	cfg.MaxAttempts = 3
	r := newRouter(t, cfg)
	r.Use(func(next pubsub.Handler) pubsub.Handler {
		return func(ctx context.Context, m *pubsub.Message) error {
			err := next(ctx, m)
			if pubsub.IsTransient(err) {
				transient.Add(1)
			}
			return err
		}
	})
	r.Handle(topic, pubsub.Typed(srcodec.UseLatest(dcl, sr.TypeAvro), func(_ context.Context, _ *pubsub.Message, o srOrder) error {
		mu.Lock()
		defer mu.Unlock()
		handled[o.ID]++
		return nil
	}))
	pub := pubsub.NewPublisher(b.Client())
	publish(t, pub, topic, encode(enc1, "a1"), notWire, encode(enc1, "a2"), noSchema, encode(enc1, "a3"))
	start(t, r)
	handledAll := func(ids ...string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if handled[id] == 0 {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, 20*time.Second, "the first batch", handledAll("a1", "a2", "a3"))
	bad := readAll(t, b, dlq, 2)

	// Encoded while the registry is up; the router has not seen schema 2.
	batch2 := []event.Event{encode(enc2, "b1"), encode(enc2, "b2"), encode(enc2, "b3"), encode(enc2, "b4")}
	reg.stop()
	publish(t, pub, topic, batch2...)
	waitFor(t, 20*time.Second, "transient failures past MaxAttempts", func() bool {
		return transient.Load() >= int64(4*cfg.MaxAttempts)
	})
	if handledAll("b1")() {
		t.Fatal("b1 handled while the registry was down")
	}
	reg.start()
	waitFor(t, 20*time.Second, "the second batch after the registry is back", handledAll("b1", "b2", "b3", "b4"))

	// The DLQ holds the two bad records and nothing else.
	ends, err := kadm.NewClient(b.Client()).ListEndOffsets(ctx, dlq)
	if err != nil {
		t.Fatal(err)
	}
	if end, _ := ends.Lookup(dlq, 0); end.Offset != 2 {
		t.Fatalf("DLQ holds %d records, want only the 2 bad ones", end.Offset)
	}
	var keys []string
	for _, l := range bad {
		keys = append(keys, string(l.Key))
		if h := headerMap(l); h[pubsub.HeaderDLQAttempts] != "1" || !strings.Contains(h[pubsub.HeaderDLQError], "permanent") {
			t.Errorf("DLQ record %s: attempts %s, error %q; want 1 permanent attempt", l.Key, h[pubsub.HeaderDLQAttempts], h[pubsub.HeaderDLQError])
		}
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"bad-1", "bad-2"}) {
		t.Fatalf("DLQ keys %v, want bad-1 and bad-2", keys)
	}
}

// TestTransientNotCounted: a handler's Transient errors are retried past
// MaxAttempts without reaching the DLQ, keep Attempt at 1, and a
// Permanent error wrapping a transient one is still permanent.
func TestTransientNotCounted(t *testing.T) {
	down := errors.New("downstream unavailable")
	if !pubsub.IsTransient(pubsub.Transient(down)) || pubsub.IsTransient(down) ||
		pubsub.IsTransient(pubsub.Permanent(pubsub.Transient(down))) || pubsub.IsTransient(nil) {
		t.Fatal("IsTransient misclassifies")
	}
	b := pubsubtest.New(t)
	topic := b.Topic("transient", 1)
	b.CreateTopic(topic+".dlq", 1)
	publish(t, pubsub.NewPublisher(b.Client()), topic, seqEvent("k", 0), seqEvent("k", 1))
	cfg := testConfig(b, pubsubtest.Group("transient"))
	cfg.MaxAttempts = 2
	var mu sync.Mutex
	var calls int
	var attempts []int
	var got []string
	r := newRouter(t, cfg)
	r.Handle(topic, func(_ context.Context, m *pubsub.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if string(m.Event.Data) == "0" {
			if calls++; calls <= 6 {
				attempts = append(attempts, m.Attempt)
				return pubsub.Transient(down)
			}
		}
		got = append(got, string(m.Event.Data))
		return nil
	})
	start(t, r)
	waitFor(t, 10*time.Second, "both events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, []string{"0", "1"}) || !slices.Equal(attempts, []int{1, 1, 1, 1, 1, 1}) {
		t.Fatalf("handled %v with transient attempts %v; want 0 then 1, every transient failure Attempt 1", got, attempts)
	}
	ends, err := kadm.NewClient(b.Client()).ListEndOffsets(context.Background(), topic+".dlq")
	if err != nil {
		t.Fatal(err)
	}
	if end, _ := ends.Lookup(topic+".dlq", 0); end.Offset != 0 {
		t.Fatalf("DLQ holds %d records, want none", end.Offset)
	}
}

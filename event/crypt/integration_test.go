package crypt_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/event/crypt"
	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/sqlite"
	"github.com/heraldhq/herald/outbox"
	obsqlite "github.com/heraldhq/herald/outbox/sqlite"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// TestPubsub: orders of two customers published encrypted through a real
// broker, one customer's key rotated between two orders and the other's
// shredded. The bytes on the wire hold no plaintext; a consumer in
// another process (the keyring file reopened) handles both of bob's
// orders, old and new key version, and alice's, and a tampered copy of
// one of bob's, go to the dead-letter topic as permanent failures that
// say why.
func TestPubsub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := pubsubtest.New(t)
	topic := b.Topic("crypt-orders", 1)
	b.CreateTopic(topic+".dlq", 1)

	kr, path := newKeyring(t)
	prod := newCodec(t, kr, crypt.Config{KeyID: crypt.ByKey("customer/")})
	pub := pubsub.NewPublisher(b.Client(), pubsub.WithCodec(prod), pubsub.WithSource("/shop"))
	publish := func(customer, item string) {
		t.Helper()
		if _, err := pub.PublishValue(ctx, topic, "order.placed", customer, order{customer, item, secret}); err != nil {
			t.Fatal(err)
		}
	}
	publish("alice", "a1")
	publish("bob", "b1")
	if _, err := kr.Rotate(ctx, "customer/bob"); err != nil {
		t.Fatal(err)
	}
	publish("bob", "b2")
	publish("alice", "a2")
	if err := prod.Shred(ctx, "customer/alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.PublishValue(ctx, topic, "order.placed", "alice", order{}); !errors.Is(err, crypt.ErrShredded) {
		t.Fatalf("publish for a shredded customer: %v", err)
	}

	// The wire: a raw franz-go fetch sees ciphertext only.
	versions := map[string]string{}
	recs := fetch(t, b, topic, 4)
	for _, r := range recs {
		if bytes.Contains(r.Value, []byte(secret)) || bytes.Contains(r.Value, []byte(`"item"`)) {
			t.Fatalf("plaintext on the wire: %q", r.Value)
		}
		h := map[string]string{}
		for _, x := range r.Headers {
			if bytes.Contains(x.Value, []byte(secret)) {
				t.Fatalf("plaintext in header %s", x.Key)
			}
			h[x.Key] = string(x.Value)
		}
		if h["content-type"] != crypt.ContentType || h["ce_encalg"] != crypt.AlgAES256GCM || h["ce_enckeyid"] != "customer/"+string(r.Key) {
			t.Fatalf("headers %v", h)
		}
		versions[string(r.Key)] += h["ce_enckeyversion"]
	}
	if versions["bob"] != "12" || versions["alice"] != "11" {
		t.Fatalf("key versions by customer %v, want bob 1 then 2", versions)
	}
	// Someone with write access to the topic tampers: a copy of bob's
	// first order with one bit of its value flipped, produced raw.
	forged := &kgo.Record{Topic: topic, Key: []byte("carl"), Value: bytes.Clone(recs[1].Value), Headers: recs[1].Headers}
	forged.Value[len(forged.Value)/2] ^= 0x10
	if err := b.Client().ProduceSync(ctx, forged).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// The consumer, another process with its own copy of the keyring.
	cons := newCodec(t, reopen(t, path), crypt.Config{})
	cfg := pubsub.RouterConfig{
		Brokers: b.Seeds, Group: pubsubtest.Group("crypt"), Codec: cons, CommitInterval: 50 * time.Millisecond,
		Backoff:    pubsub.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond},
		ClientOpts: []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond)},
		Logger:     slog.New(slog.DiscardHandler),
	}
	r, err := pubsub.NewRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var handled []string
	if err := pubsub.On(r, topic, "order.placed", func(_ context.Context, o order) error {
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, o.Item)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var dead []string
	for _, d := range fetch(t, b, topic+".dlq", 3) {
		for _, h := range d.Headers {
			if h.Key == pubsub.HeaderDLQError {
				dead = append(dead, string(d.Key)+": "+string(h.Value))
			}
		}
	}
	slices.Sort(dead) // handled by key, in parallel: no order across keys
	if len(dead) != 3 || !strings.HasPrefix(dead[0], "alice: ") || !strings.Contains(dead[0], "key shredded") ||
		!strings.HasPrefix(dead[1], "alice: ") || !strings.Contains(dead[1], "key shredded") ||
		!strings.HasPrefix(dead[2], "carl: ") || !strings.Contains(dead[2], "decryption failed") {
		t.Fatalf("dead letters:\n%s", strings.Join(dead, "\n"))
	}
	waitFor(t, "bob's orders", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == 2
	})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Join(handled, ",") != "b1,b2" {
		t.Fatalf("handled %v, want b1,b2", handled)
	}
}

// TestEventStore: the same guarantees in the event store (SQLite), whose
// appends also go to Kafka through the outbox: no plaintext in the
// database files; events read back from the store, and relayed to a
// topic keyed by stream, decrypt; and once a customer is shredded their
// events fail with ErrShredded in both places while the other's still
// decrypt.
func TestEventStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ob, err := obsqlite.New(ctx, db, obsqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := pubsubtest.New(t)
	topic := b.Topic("crypt-es", 1)
	store, err := sqlite.New(ctx, db, sqlite.Config{Hooks: []eventstore.TxHook{eventstore.OutboxHook(ob, topic)}})
	if err != nil {
		t.Fatal(err)
	}
	kr, path := newKeyring(t)
	c := newCodec(t, kr, crypt.Config{KeyID: crypt.BySubject("customer/")})
	for _, s := range []struct{ stream, customer string }{{"order-1", "alice"}, {"order-2", "bob"}, {"order-1", "alice"}} {
		if _, err := store.Append(ctx, s.stream, eventstore.Any, seal(t, c, s.customer)); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Fatalf("plaintext in %s", e.Name())
		}
	}
	read := func(c event.Codec, stream string) []error {
		t.Helper()
		recs, err := store.ReadStream(ctx, stream, eventstore.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var errs []error
		for _, r := range recs {
			o, err := open(c, r.Event)
			if err == nil && o.Note != secret {
				t.Fatalf("decoded %+v", o)
			}
			errs = append(errs, err)
		}
		return errs
	}
	for _, err := range append(read(c, "order-1"), read(c, "order-2")...) {
		if err != nil {
			t.Fatal(err)
		}
	}
	relay, err := outbox.NewRelay(ob, b.Client(), outbox.RelayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := relay.RunOnce(ctx); err != nil || n != 3 {
		t.Fatalf("relayed %d, %v", n, err)
	}
	relayed := fetch(t, b, topic, 3)
	// fromTopic decodes the relayed events: nil or the error of each.
	fromTopic := func(c event.Codec) map[string][]error {
		errs := map[string][]error{}
		for _, r := range relayed {
			e, err := event.FromRecord(r)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(r.Value, []byte(secret)) {
				t.Fatal("plaintext relayed")
			}
			o, err := open(c, e)
			if err == nil && o.Note != secret {
				t.Fatalf("decoded %+v", o)
			}
			errs[string(r.Key)] = append(errs[string(r.Key)], err)
		}
		return errs
	}
	if errs := fromTopic(c); errs["order-1"][0] != nil || errs["order-1"][1] != nil || errs["order-2"][0] != nil {
		t.Fatalf("relayed events: %v", errs)
	}
	if err := c.Shred(ctx, "customer/alice"); err != nil {
		t.Fatal(err)
	}
	for _, cc := range []event.Codec{c, newCodec(t, reopen(t, path), crypt.Config{})} {
		errs := read(cc, "order-1")
		if len(errs) != 2 || !errors.Is(errs[0], crypt.ErrShredded) || !errors.Is(errs[1], crypt.ErrShredded) {
			t.Fatalf("alice's stream after shred: %v", errs)
		}
		if errs := read(cc, "order-2"); len(errs) != 1 || errs[0] != nil {
			t.Fatalf("bob's stream: %v", errs)
		}
		errs = fromTopic(cc)["order-1"]
		if len(errs) != 2 || !errors.Is(errs[0], crypt.ErrShredded) || !errors.Is(errs[1], crypt.ErrShredded) {
			t.Fatalf("alice's events in the topic after shred: %v", errs)
		}
		if errs := fromTopic(cc)["order-2"]; len(errs) != 1 || errs[0] != nil {
			t.Fatalf("bob's events in the topic: %v", errs)
		}
	}
}

// fetch reads n records of topic from the start with a plain client.
func fetch(t *testing.T, b *pubsubtest.Broker, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := b.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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

// waitFor polls cond until it holds, failing the test after 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

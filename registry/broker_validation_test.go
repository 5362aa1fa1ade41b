package registry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// TestBrokerSchemaValidation runs the registry on Herald's broker with the
// broker-side check on: a topic with herald.schema.validation=true takes
// only values that carry an id registered under <topic>-value.
func TestBrokerSchemaValidation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := newTestBroker(t, "")
	reg, err := New(ctx, Config{Brokers: []string{b.Addr()}, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := reg.Start(); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	on := "true"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"herald.schema.validation": &on}, "orders"); err != nil {
		t.Fatal(err)
	}
	produce := func(v []byte) error {
		return cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: v}).FirstErr()
	}
	// No registry attached yet: the check cannot run, so nothing passes.
	if err := produce(wire(1, "x")); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("without a validator: %v, want INVALID_RECORD", err)
	}
	b.Server().SetSchemaValidator(reg.Validator())
	src, err := sr.NewClient(sr.URLs("http://" + reg.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := src.CreateSchema(ctx, "orders-value", sr.Schema{Schema: `"string"`})
	if err != nil {
		t.Fatal(err)
	}
	other, err := src.CreateSchema(ctx, "payments-value", sr.Schema{Schema: `"long"`})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		value []byte
		ok    bool
	}{
		{"registered id", wire(uint32(ss.ID), "\x06abc"), true},
		{"no magic byte", []byte("plain json"), false},
		{"another subject's id", wire(uint32(other.ID), "\x02"), false},
		{"unknown id", wire(9999, "x"), false},
		{"tombstone", nil, true},
	} {
		err := produce(c.value)
		if c.ok != (err == nil) || (!c.ok && !errors.Is(err, kerr.InvalidRecord)) {
			t.Errorf("%s: %v (want ok=%v, else INVALID_RECORD)", c.name, err, c.ok)
		}
	}
	// Topics without the setting are not checked.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "free"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "free", Value: []byte("anything")}).FirstErr(); err != nil {
		t.Fatalf("unchecked topic: %v", err)
	}
}

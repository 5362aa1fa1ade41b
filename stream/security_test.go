package stream_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/kafkasec"
	"github.com/heraldhq/herald/stream"
)

// TestAppOverSASL: an App with a store (a changelog topic) runs on a
// cluster that requires SCRAM, with its credentials in Config.Security.
func TestAppOverSASL(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "words", "counts"), kfake.AllowAutoTopicCreation(),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "counter", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sec := kafkasec.Config{SASL: kafkasec.SASL{Mechanism: kafkasec.SCRAMSHA256, Username: "counter", Password: "pw"}}
	opts, err := sec.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("words"), kgo.ConsumeTopics("counts"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, w := range []string{"a", "b", "a"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(w), Value: []byte(w)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	top := stream.NewTopology()
	words := stream.Source(top, "words", stream.String(), stream.String())
	stream.Count(stream.GroupByKey(words, stream.String(), stream.String()), "counts-store").ToStream().To("counts", stream.String(), stream.JSON[int64]())
	app, err := stream.New(top, stream.Config{AppID: "wordcount", Brokers: c.ListenAddrs(), StateDir: t.TempDir(),
		Security: sec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	got := map[string]string{}
	for got["a"] != "2" && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[string(r.Key)] = string(r.Value) })
	}
	cancel()
	if err := <-done; err != nil && !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("Run: %v", err)
	}
	if got["a"] != "2" || got["b"] != "1" {
		t.Fatalf("counts %v, want a=2 b=1", got)
	}

	if _, err := stream.New(top, stream.Config{AppID: "x", Brokers: c.ListenAddrs(), StateDir: t.TempDir(),
		Security: kafkasec.Config{SASL: kafkasec.SASL{Mechanism: "SCRAM-SHA-1"}}}); err == nil || !strings.Contains(err.Error(), "Security") {
		t.Fatalf("New with a bad mechanism: %v", err)
	}
}

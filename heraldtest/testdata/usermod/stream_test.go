package usermod_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/registry/serde"
	"github.com/heraldhq/herald/stream"
)

// TestStreamFromAnotherModule sums order quantities per order id with
// the stream package, values read through the registry codec.
func TestStreamFromAnotherModule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := heraldtest.NewBroker(t, heraldtest.WithDurability("none"), heraldtest.WithRegistry(), heraldtest.WithTopics(1, "orders", "totals"))
	rcl, err := sr.NewClient(sr.URLs(b.RegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	s := serde.New(rcl)
	enc, err := s.Encoder(ctx, "orders-value", sr.Schema{Type: sr.TypeAvro, Schema: avroV1})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := s.Decoder(ctx, sr.Schema{Type: sr.TypeAvro, Schema: avroV1})
	if err != nil {
		t.Fatal(err)
	}
	codec := stream.Registry[orderV1](enc, dec)

	top := stream.NewTopology()
	orders := stream.Source(top, "orders", stream.String(), codec)
	totals := stream.Aggregate(stream.GroupByKey(orders, stream.String(), codec), "totals", stream.Int64(),
		func() int64 { return 0 }, func(_ string, o orderV1, sum int64) int64 { return sum + o.Qty })
	totals.ToStream().To("totals", stream.String(), stream.Int64())
	// Sliding windows and a punctuator, and the graph as Mermaid.
	stream.WindowedCount(stream.GroupByKey(orders, stream.String(), codec), stream.Sliding(time.Minute).Grace(time.Second), "recent")
	stream.Punctuate(orders, time.Second, stream.WallClock, func(string, time.Time, func(string, orderV1)) error { return nil })
	if !strings.Contains(top.Mermaid("sum"), "flowchart") {
		t.Error("no Mermaid flowchart")
	}
	app, err := stream.New(top, stream.Config{AppID: "sum", Brokers: []string{b.Addr()}, StateDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Standbys: 1})
	if err != nil {
		t.Fatal(err)
	}
	actx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(actx) }()

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("orders"), kgo.ConsumeTopics("totals"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, o := range []orderV1{{ID: "o-1", Qty: 2}, {ID: "o-1", Qty: 5}, {ID: "o-2", Qty: 1}} {
		v, err := codec.Encode(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(o.ID), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int64{}
	for len(got) < 2 || got["o-1"] != 7 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("totals so far %v", got)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n, _ := stream.Int64().Decode(r.Value)
			got[string(r.Key)] = n
		})
	}
	if got["o-2"] != 1 {
		t.Errorf("totals %v", got)
	}
	// The App is an http.Handler for interactive queries.
	srv := httptest.NewServer(app)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/stores/totals/keys/o-1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"value":7`) {
		t.Errorf("GET totals/o-1: %d %s", resp.StatusCode, body)
	}
	var _ []stream.RestoreProgress = app.RestoreProgress()
	var _ []stream.StandbyMetrics = app.Standbys()
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

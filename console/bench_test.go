package console_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/heraldtestutil"
)

// BenchmarkProduceTail produces batches of 1,000 records of 1 KiB with
// franz-go, with nobody watching ("none"), with the browser's live tail of
// the topic open ("tail": the SSE stream with max_rate=20), with the tail
// open and Prometheus scraping /metrics every second ("tail+scrape"), and
// with the whole stream open ("stream": every record over SSE), in the
// same run: the ratios are what an open console costs. One op is one
// batch.
//
//	go test ./console -run '^$' -bench ProduceTail -benchtime 5s -count 3
func BenchmarkProduceTail(b *testing.B) {
	br := heraldtest.NewBroker(b, heraldtest.WithTopics(1, "bench"))
	reg, err := heraldtestutil.Server(br).Metrics()
	if err != nil {
		b.Fatal(err)
	}
	c, err := console.New(console.Config{Brokers: []string{br.Addr()}, Metrics: reg})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	hs := httptest.NewServer(c)
	b.Cleanup(hs.Close)
	kcl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(kcl.Close)
	value := bytes.Repeat([]byte("v"), 1024)
	batch := make([]*kgo.Record, 1000)
	produce := func(b *testing.B) {
		for i := range batch {
			batch[i] = &kgo.Record{Topic: "bench", Value: value}
		}
		if err := kcl.ProduceSync(context.Background(), batch...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, query string
		scrape      bool
	}{
		{"none", "", false}, {"tail", "?from=end&max_rate=20", false}, {"tail+scrape", "?from=end&max_rate=20", true}, {"stream", "?from=end", false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var seen atomic.Int64
			if tc.query != "" {
				stop := openTail(b, hs.URL+"/topics/bench/events"+tc.query, &seen)
				defer stop()
			}
			if tc.scrape {
				stop := scrapeEvery(b, hs.URL+"/metrics", time.Second)
				defer stop()
			}
			b.SetBytes(int64(len(batch) * len(value)))
			b.ReportAllocs()
			for b.Loop() {
				produce(b)
			}
			b.ReportMetric(float64(seen.Load())/float64(b.N), "tailed/op")
		})
	}
}

// openTail reads an event stream, counting its records, until stop.
func openTail(b *testing.B, url string, seen *atomic.Int64) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "event: record") {
				seen.Add(1)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// scrapeEvery GETs url every interval, as Prometheus would, until stop.
func scrapeEvery(b *testing.B, url string, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

package metrics_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/heraldtestutil"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/server"
)

// scrape is a parsed /metrics answer.
type scrape map[string]*dto.MetricFamily

// Scrape fetches url and parses it with the Prometheus text parser.
func Scrape(t testing.TB, url string) scrape {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// find returns the metric of family name whose labels include want.
func (s scrape) find(name string, want ...string) *dto.Metric {
	fam := s[name]
	if fam == nil {
		return nil
	}
next:
	for _, m := range fam.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if have[want[i]] != want[i+1] {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a counter's or gauge's value; a histogram's sample count.
func (s scrape) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	m := s.find(name, labels...)
	switch {
	case m == nil:
		t.Fatalf("no %s%v in the scrape", name, labels)
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	t.Fatalf("%s%v: unexpected type", name, labels)
	return 0
}

func TestScrapeAfterWorkload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := heraldtest.NewBroker(t, heraldtest.WithTopics(2, "orders"), heraldtest.WithAutoCreate(false), heraldtest.WithInitialRebalanceDelay(0))
	reg, err := heraldtestutil.Server(b).Metrics()
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer hs.Close()

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	value := bytes.Repeat([]byte("v"), 100)
	produce := func(n int) {
		for i := 0; i < n; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: 0, Value: value}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(10)
	consumeAndCommit(ctx, t, b.Addr(), "g1", 10)
	produce(5)
	// One produce that fails: a partition the topic does not have.
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "orders"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = 9
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code == 0 {
		t.Fatalf("produce to partition 9: code %d", code)
	}

	s := Scrape(t, hs.URL)
	p0 := []string{"topic", "orders", "partition", "0"}
	p1 := []string{"topic", "orders", "partition", "1"}
	eq := func(name string, labels []string, want float64) {
		t.Helper()
		if got := s.value(t, name, labels...); got != want {
			t.Errorf("%s%v = %v, want %v", name, labels, got, want)
		}
	}
	atLeast := func(name string, labels []string, want float64) {
		t.Helper()
		if got := s.value(t, name, labels...); got < want {
			t.Errorf("%s%v = %v, want >= %v", name, labels, got, want)
		}
	}
	eq("herald_partition_records_in_total", p0, 15)
	eq("herald_partition_records_in_total", p1, 0)
	atLeast("herald_partition_bytes_in_total", p0, 15*100)
	atLeast("herald_partition_records_out_total", p0, 10)
	atLeast("herald_partition_bytes_out_total", p0, 10*100)
	eq("herald_partition_high_watermark_offset", p0, 15)
	eq("herald_partition_log_start_offset", p0, 0)
	atLeast("herald_partition_log_size_bytes", p0, 15*100)
	eq("herald_partition_log_segments", p0, 1)

	produceReqs := s.value(t, "herald_kafka_requests_total", "api", "Produce")
	if produceReqs < 16 {
		t.Errorf("Produce requests %v, want >= 16", produceReqs)
	}
	eq("herald_kafka_request_errors_total", []string{"api", "Produce"}, 1)
	eq("herald_kafka_request_duration_seconds", []string{"api", "Produce"}, produceReqs)
	atLeast("herald_kafka_requests_total", []string{"api", "Fetch"}, 1)
	atLeast("herald_kafka_requests_total", []string{"api", "OffsetCommit"}, 1)
	atLeast("herald_connections_open", nil, 1)
	atLeast("herald_connections_accepted_total", nil, 2)

	// 15 acks=all appends one at a time: each waits for its own sync.
	atLeast("herald_storage_fsync_duration_seconds", nil, 15)
	batches := s.find("herald_storage_group_commit_appends").GetHistogram()
	if batches.GetSampleSum() < 15 || batches.GetSampleCount() < 15 {
		t.Errorf("group commit appends: %d syncs, %v appends; want >= 15 each", batches.GetSampleCount(), batches.GetSampleSum())
	}
	eq("herald_storage_fsync_errors_total", nil, 0)

	eq("herald_group_lag_records", []string{"group", "g1", "topic", "orders", "partition", "0"}, 5)
	eq("herald_group_lag_truncated", nil, 0)
	atLeast("herald_groups", nil, 1)
	if s["go_goroutines"] == nil || s["process_open_fds"] == nil {
		t.Error("no Go runtime or process metrics")
	}
	for name := range s {
		if strings.HasPrefix(name, "herald_") && strings.HasSuffix(name, "_total") && s[name].GetType() != dto.MetricType_COUNTER {
			t.Errorf("%s ends in _total but is a %v", name, s[name].GetType())
		}
	}
}

// consumeAndCommit reads n records of orders in group and commits them.
func consumeAndCommit(ctx context.Context, t *testing.T, addr, group string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics("orders"), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", got, n, err)
		}
		got += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLagSeriesBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := heraldtest.NewBroker(t, heraldtest.WithTopics(2, "orders"), heraldtest.WithAutoCreate(false))
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, g := range []string{"a", "b", "c"} {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = g, -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "orders"
		for p := int32(0); p < 2; p++ {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition = p
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		if _, err := req.RequestWith(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	srv := heraldtestutil.Server(b)
	reg, err := srvRegistry(srv, 4)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer hs.Close()
	s := Scrape(t, hs.URL)
	if n := len(s["herald_group_lag_records"].GetMetric()); n != 4 {
		t.Errorf("%d lag series, want 4 (2 groups of 2 partitions)", n)
	}
	if v := s.value(t, "herald_group_lag_truncated"); v != 1 {
		t.Errorf("lag truncated %v, want 1", v)
	}
	if v := s.value(t, "herald_groups"); v != 3 {
		t.Errorf("groups %v, want 3", v)
	}
}

// srvRegistry is a registry with only the collector, its lag bounded.
func srvRegistry(srv *server.Server, maxLag int) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	return reg, reg.Register(metrics.New(metrics.Sources{Broker: srv.Broker(), Groups: srv.Groups(), MaxLagSeries: maxLag}))
}

package console_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/testenv"
)

// scrape fetches url and parses it with the Prometheus text parser.
func scrape(t *testing.T, url string) (map[string]*dto.MetricFamily, error) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// metricValue is the counter's or gauge's value (a histogram's count) of
// family name's series with the labels (name, value pairs) want; ok is
// false if there is none.
func metricValue(fams map[string]*dto.MetricFamily, name string, want ...string) (v float64, ok bool) {
	fam := fams[name]
	if fam == nil {
		return 0, false
	}
next:
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if have[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestStandaloneMetrics: a console with no Config.Metrics (herald console
// in front of any cluster) serves its own /metrics: its HTTP requests by
// route and status with their latencies, each partition's end offset and
// each group's lag and committed offset as last sampled, and the Go
// runtime's.
func TestStandaloneMetrics(t *testing.T) {
	b := heraldtest.NewBroker(t, heraldtest.WithTopics(2, "orders"), heraldtest.WithAutoCreate(false))
	c, err := console.New(console.Config{Brokers: []string{b.Addr()}, SampleInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	hs := httptest.NewServer(c)
	t.Cleanup(hs.Close)
	e := &env{t: t, b: b, c: c, hs: hs}
	if e.kcl, err = kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.kcl.Close)
	e.produce(&kgo.Record{Topic: "orders", Partition: 0, Value: []byte("a")}, &kgo.Record{Topic: "orders", Partition: 0, Value: []byte("b")},
		&kgo.Record{Topic: "orders", Partition: 0, Value: []byte("c")}, &kgo.Record{Topic: "orders", Partition: 1, Value: []byte("d")})
	commitAt(t, e, "billing", "orders", 1) // partition 0: 2 behind

	for range 3 {
		if status, _ := e.get("/topics"); status != http.StatusOK {
			t.Fatalf("/topics: %d", status)
		}
	}
	if status, _ := e.get("/topics/nope"); status != http.StatusNotFound {
		t.Fatalf("/topics/nope: %d", status)
	}
	var fams map[string]*dto.MetricFamily
	testenv.CheckFor(t, 20*time.Second, func() error {
		fams, err = scrape(t, hs.URL+"/metrics")
		if err != nil {
			return err
		}
		for _, want := range []struct {
			name   string
			labels []string
			v      float64
		}{
			{"herald_console_partition_end_offset", []string{"topic", "orders", "partition", "0"}, 3},
			{"herald_console_partition_end_offset", []string{"topic", "orders", "partition", "1"}, 1},
			{"herald_console_group_lag_records", []string{"group", "billing", "topic", "orders", "partition", "0"}, 2},
			{"herald_console_group_committed_offset", []string{"group", "billing", "topic", "orders", "partition", "0"}, 1},
			{"herald_console_cluster_up", nil, 1},
		} {
			if v, ok := metricValue(fams, want.name, want.labels...); !ok || v != want.v {
				return fmt.Errorf("%s%v = %v (present %v), want %v", want.name, want.labels, v, ok, want.v)
			}
		}
		return nil
	})
	for _, want := range []struct {
		name   string
		labels []string
		v      float64
	}{
		{"herald_console_http_requests_total", []string{"route", "GET /topics", "method", "GET", "code", "200"}, 3},
		{"herald_console_http_requests_total", []string{"route", "GET /topics/{topic}", "method", "GET", "code", "404"}, 1},
		{"herald_console_http_request_duration_seconds", []string{"route", "GET /topics", "method", "GET"}, 3},
	} {
		if v, ok := metricValue(fams, want.name, want.labels...); !ok || v != want.v {
			t.Errorf("%s%v = %v (present %v), want %v", want.name, want.labels, v, ok, want.v)
		}
	}
	if v, ok := metricValue(fams, "herald_console_cluster_sample_timestamp_seconds"); !ok || time.Since(time.Unix(int64(v), 0)) > time.Minute {
		t.Errorf("sample timestamp %v (present %v)", v, ok)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	if _, ok := fams["herald_partition_records_in_total"]; ok {
		t.Error("a standalone console reports broker metrics it cannot know")
	}
	// The scrape just made is counted by the next one.
	fams, err = scrape(t, hs.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := metricValue(fams, "herald_console_http_requests_total", "route", "GET /metrics", "code", "200"); !ok || v < 1 {
		t.Errorf("scrapes counted %v (present %v)", v, ok)
	}
}

package stream_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/stream"
)

// scrape GETs url and parses the Prometheus text exposition.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse the scrape: %v", err)
	}
	return fams
}

// series returns the metric of family name with the given labels (all
// of them), or an error naming what is there.
func series(fams map[string]*dto.MetricFamily, name string, typ dto.MetricType, labels map[string]string) (*dto.Metric, error) {
	f := fams[name]
	if f == nil {
		return nil, fmt.Errorf("no family %s", name)
	}
	if f.GetType() != typ {
		return nil, fmt.Errorf("%s is a %v, want %v", name, f.GetType(), typ)
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if len(got) != len(labels) {
			continue
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("%s has no series %v: %v", name, labels, f.GetMetric())
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	}
	return -1
}

// TestPrometheusCollector runs a known workload (23 records on one
// partition, 3 of them late for their 10s tumbling window, copied to a
// sink, with a 5s stream-time punctuator), scrapes the App's Collector
// over HTTP as Prometheus would and checks the task's series; then a
// second instance starts with an empty state dir and the scrape shows
// its restore of the window store.
func TestPrometheusCollector(t *testing.T) {
	b := newBrokerWith(t, map[string]int32{"ev": 1, "copy": 1})
	build := func() *stream.Topology {
		top := stream.NewTopology()
		src := stream.Source(top, "ev", stream.String(), stream.String())
		src.To("copy", stream.String(), stream.String())
		stream.WindowedCount(stream.GroupByKey(src, stream.String(), stream.String()), stream.Tumbling(10*time.Second), "win")
		stream.Punctuate(src, 5*time.Second, stream.StreamTime, func(string, time.Time, func(string, string)) error { return nil })
		return top
	}
	var recs []*kgo.Record
	for i := 1; i <= 20; i++ {
		recs = append(recs, recAt(fmt.Sprint("k", i%2), "v", int64(i)*1000))
	}
	for range 3 { // window [0s, 10s) closed at stream time 20s: late
		recs = append(recs, recAt("k1", "late", 1000))
	}
	produce(t, b.Addr(), "ev", recs...)

	r := start(t, build(), stream.Config{AppID: "prom", Brokers: []string{b.Addr()}, StateDir: t.TempDir(), CommitInterval: 100 * time.Millisecond})
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.app.Collector())
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.PanicOnError}))
	defer srv.Close()

	task := map[string]string{"app": "prom", "subtopology": "0", "partition": "0"}
	want := []struct {
		name string
		typ  dto.MetricType
		v    float64
	}{
		{"herald_stream_records_in_total", dto.MetricType_COUNTER, 23},
		{"herald_stream_records_out_total", dto.MetricType_COUNTER, 23},
		{"herald_stream_late_records_dropped_total", dto.MetricType_COUNTER, 3},
		{"herald_stream_records_skipped_total", dto.MetricType_COUNTER, 0},
		{"herald_stream_partial_matches_dropped_total", dto.MetricType_COUNTER, 0},
		{"herald_stream_restored_records_total", dto.MetricType_COUNTER, 0},
		{"herald_stream_lag_records", dto.MetricType_GAUGE, 0},
	}
	var fams map[string]*dto.MetricFamily
	testenv.CheckFor(t, 30*time.Second, func() error {
		fams = scrape(t, srv.URL)
		for _, w := range want {
			m, err := series(fams, w.name, w.typ, task)
			if err != nil {
				return err
			}
			if value(m) != w.v {
				return fmt.Errorf("%s = %v, want %v", w.name, value(m), w.v)
			}
		}
		return nil
	})
	// The first record (1s) sets the punctuator due at 6s; it runs at 6s,
	// 11s and 16s of stream time.
	m, err := series(fams, "herald_stream_punctuation_duration_seconds", dto.MetricType_HISTOGRAM, task)
	if err != nil {
		t.Fatal(err)
	}
	h := m.GetHistogram()
	if h.GetSampleCount() != 3 || h.GetSampleSum() <= 0 || len(h.GetBucket()) < 5 {
		t.Errorf("punctuation histogram: count %d, sum %v, %d buckets; want 3 runs", h.GetSampleCount(), h.GetSampleSum(), len(h.GetBucket()))
	}
	prev := uint64(0)
	for _, bk := range h.GetBucket() {
		if bk.GetCumulativeCount() < prev || bk.GetCumulativeCount() > h.GetSampleCount() {
			t.Errorf("bucket le=%v: %d after %d (count %d): not cumulative", bk.GetUpperBound(), bk.GetCumulativeCount(), prev, h.GetSampleCount())
		}
		prev = bk.GetCumulativeCount()
	}
	r.stop(t)

	// A new instance with an empty state dir restores the window store
	// from its changelog: the whole changelog, which the scrape shows.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), "prom-win-changelog")
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup("prom-win-changelog", 0)
	if end.Offset <= 0 {
		t.Fatalf("changelog end %d: the window store wrote nothing", end.Offset)
	}
	r2 := start(t, build(), stream.Config{AppID: "prom", Brokers: []string{b.Addr()}, StateDir: t.TempDir(), CommitInterval: 100 * time.Millisecond})
	reg2 := prometheus.NewRegistry()
	reg2.MustRegister(r2.app.Collector())
	srv2 := httptest.NewServer(promhttp.HandlerFor(reg2, promhttp.HandlerOpts{ErrorHandling: promhttp.PanicOnError}))
	defer srv2.Close()
	store := map[string]string{"app": "prom", "subtopology": "0", "partition": "0", "store": "win"}
	testenv.CheckFor(t, 30*time.Second, func() error {
		fams := scrape(t, srv2.URL)
		active, err := series(fams, "herald_stream_restore_active", dto.MetricType_GAUGE, store)
		if err != nil {
			return err
		}
		if value(active) != 0 {
			return fmt.Errorf("restore still active")
		}
		done, err := series(fams, "herald_stream_restore_records_restored", dto.MetricType_GAUGE, store)
		if err != nil {
			return err
		}
		to, err := series(fams, "herald_stream_restore_records_to_restore", dto.MetricType_GAUGE, store)
		if err != nil {
			return err
		}
		total, err := series(fams, "herald_stream_restored_records_total", dto.MetricType_COUNTER, task)
		if err != nil {
			return err
		}
		if value(to) != float64(end.Offset) || value(done) <= 0 || value(done) > value(to) || value(total) != value(done) {
			return fmt.Errorf("restored %v of %v (task counter %v), changelog end %d", value(done), value(to), value(total), end.Offset)
		}
		return nil
	})
}

package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/heraldtestutil"
	"github.com/heraldhq/herald/registry"
)

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Title  string  `json:"title"`
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// metricName matches the metric names of a PromQL expression: Herald's,
// the Go runtime's and the process's.
var metricName = regexp.MustCompile(`\b(?:herald|go|process)_[a-z0-9_]+\b`)

// TestGrafanaDashboard: every metric grafana/herald.json queries is in a
// scrape of herald serve's /metrics after a workload that touches each
// kind (produce, fetch, a group's commit, a registry request).
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("grafana/herald.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("grafana/herald.json: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Fatalf("dashboard without title or uid")
	}
	used := map[string][]string{} // metric -> panels
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				used[m] = append(used[m], p.Title)
			}
		}
	}
	if len(used) < 15 {
		t.Fatalf("the dashboard queries only %d metrics", len(used))
	}
	have := scrapeAfterWorkload(t)
	var missing []string
	for m, panels := range used {
		if !have[m] {
			missing = append(missing, m+" (in "+strings.Join(panels, "; ")+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("not in a scrape: %s", m)
	}
}

// scrapeAfterWorkload returns every sample name (histograms' _bucket,
// _sum and _count included) of a scrape after a small workload.
func scrapeAfterWorkload(t *testing.T) map[string]bool {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := heraldtest.NewBroker(t, heraldtest.WithTopics(1, "orders"), heraldtest.WithInitialRebalanceDelay(0))
	reg, err := registry.New(ctx, registry.Config{Brokers: []string{b.Addr()}, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	rs := httptest.NewServer(reg.Handler())
	defer rs.Close()
	if resp, err := http.Get(rs.URL + "/subjects"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumerGroup("dash"), kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 1; n += cl.PollFetches(ctx).NumRecords() {
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	mreg, err := heraldtestutil.Server(b).Metrics(reg.Collector())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(mreg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for name, f := range fams {
		if len(f.GetMetric()) == 0 {
			continue
		}
		have[name] = true
		if f.GetMetric()[0].Histogram != nil {
			have[name+"_bucket"], have[name+"_sum"], have[name+"_count"] = true, true, true
		}
	}
	return have
}

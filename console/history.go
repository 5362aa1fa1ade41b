package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Live history: a goroutine samples the cluster every
// Config.SampleInterval into fixed rings (historyLen samples each), which
// the overview's sparklines and the group page's lag chart draw and the
// pages poll (/api/history, /api/groups/{group}/lag/history). Memory is
// bounded: three rings, and one per group for at most maxHistoryGroups.
const (
	// DefaultSampleInterval is how often the history is sampled.
	DefaultSampleInterval = 5 * time.Second
	// historyLen is the samples each ring keeps (15 minutes at 5s).
	historyLen = 180
	// maxHistoryGroups bounds the groups whose lag is sampled.
	maxHistoryGroups = 100
)

// Point is one sample: its time (Unix milliseconds) and value.
type Point struct {
	T int64   `json:"t"`
	V float64 `json:"v"`
}

// ring keeps the last historyLen points.
// Invariant: len(pts) <= historyLen; pts[(next+i)%len] is the i-th oldest
// once full.
type ring struct {
	pts  []Point
	next int
}

func (r *ring) add(p Point) {
	if len(r.pts) < historyLen {
		r.pts = append(r.pts, p)
		return
	}
	r.pts[r.next] = p
	r.next = (r.next + 1) % historyLen
}

// points returns the points oldest first, in a new slice.
func (r *ring) points() []Point {
	out := make([]Point, 0, len(r.pts))
	out = append(out, r.pts[r.next:]...)
	return append(out, r.pts[:r.next]...)
}

// History is what the overview draws: records and bytes produced per
// second and the mean fsync latency, per sample interval.
type History struct {
	IntervalMs int64   `json:"interval_ms"`
	Records    []Point `json:"records_per_second"`
	Bytes      []Point `json:"bytes_per_second,omitempty"`
	// FsyncMs is the mean group-commit fdatasync latency in ms over each
	// interval with a sync; only with Config.Metrics (herald serve).
	FsyncMs []Point `json:"fsync_ms,omitempty"`
	Fsync   bool    `json:"fsync_available"`
}

// history is the sampler's state.
type history struct {
	mu struct {
		sync.Mutex
		records, bytes, fsync ring
		lag                   map[string]*ring // by group
		prev                  totals
		cluster               clusterSample // the last sample, for /metrics
	}
}

// totals are the cumulative counters one sample reads.
type totals struct {
	at                     time.Time
	records, bytes         float64
	fsyncSum, fsyncCount   float64
	ok, haveBytes, haveFsy bool
}

func newHistory() *history {
	h := &history{}
	h.mu.lag = map[string]*ring{}
	return h
}

// sampleLoop samples until stop is closed.
func (c *Console) sampleLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(c.cfg.SampleInterval)
	defer t.Stop()
	base, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	go func() {
		select {
		case <-stop: // Close does not wait for a sample's requests
			cancelAll()
		case <-base.Done():
		}
	}()
	for {
		ctx, cancel := context.WithTimeout(base, c.cfg.SampleInterval)
		c.sample(ctx)
		cancel()
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// sample reads the counters and group lag once.
func (c *Console) sample(ctx context.Context) {
	now := time.Now()
	cur, ends, err := c.readTotals(ctx)
	if err != nil {
		c.cfg.Logger.Debug("console: history sample", "err", err)
	}
	cur.at = now
	described, lagErr := c.sampleLag(ctx)
	lags := make(map[string]int64, len(described))
	for g, l := range described {
		if l.Error() == nil {
			lags[g] = l.Lag.Total()
		}
	}
	h := c.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mu.cluster = clusterSample{at: now, ok: err == nil && lagErr == nil, ends: ends, lags: described}
	if p := h.mu.prev; p.ok && cur.ok {
		secs := cur.at.Sub(p.at).Seconds()
		t := now.UnixMilli()
		h.mu.records.add(Point{t, max(cur.records-p.records, 0) / secs})
		if cur.haveBytes {
			h.mu.bytes.add(Point{t, max(cur.bytes-p.bytes, 0) / secs})
		}
		if cur.haveFsy {
			mean := 0.0
			if n := cur.fsyncCount - p.fsyncCount; n > 0 {
				mean = (cur.fsyncSum - p.fsyncSum) / n * 1000
			}
			h.mu.fsync.add(Point{t, mean})
		}
	}
	if cur.ok {
		h.mu.prev = cur
	}
	for g, v := range lags {
		r := h.mu.lag[g]
		if r == nil {
			if len(h.mu.lag) >= maxHistoryGroups {
				continue
			}
			r = &ring{}
			h.mu.lag[g] = r
		}
		r.add(Point{now.UnixMilli(), float64(v)})
	}
}

// readTotals reads produced records and bytes and fsync totals: from the
// broker's metrics when the console has them, else the sum of the
// topics' end offsets (records only), which it returns too.
func (c *Console) readTotals(ctx context.Context) (totals, kadm.ListedOffsets, error) {
	if c.cfg.Metrics != nil {
		t, err := gatherTotals(c.cfg.Metrics)
		return t, nil, err
	}
	ends, err := c.adm.ListEndOffsets(ctx)
	if err != nil {
		return totals{}, nil, fmt.Errorf("list end offsets: %w", err)
	}
	var t totals
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && !strings.HasPrefix(o.Topic, "__") {
			t.records += float64(o.Offset)
		}
	})
	t.ok = true
	return t, ends, nil
}

// gatherTotals sums herald_partition_{records,bytes}_in_total of user
// topics and reads the fsync histogram.
func gatherTotals(g prometheus.Gatherer) (totals, error) {
	fams, err := g.Gather()
	if err != nil {
		return totals{}, err
	}
	t := totals{ok: true}
	for _, f := range fams {
		switch f.GetName() {
		case "herald_partition_records_in_total":
			t.records = sumUserTopics(f)
		case "herald_partition_bytes_in_total":
			t.bytes, t.haveBytes = sumUserTopics(f), true
		case "herald_storage_fsync_duration_seconds":
			for _, m := range f.GetMetric() {
				t.fsyncSum += m.GetHistogram().GetSampleSum()
				t.fsyncCount += float64(m.GetHistogram().GetSampleCount())
			}
			t.haveFsy = true
		}
	}
	return t, nil
}

func sumUserTopics(f *dto.MetricFamily) float64 {
	var sum float64
	for _, m := range f.GetMetric() {
		internal := false
		for _, l := range m.GetLabel() {
			if l.GetName() == "topic" && strings.HasPrefix(l.GetValue(), "__") {
				internal = true
			}
		}
		if !internal {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// sampleLag reads the lag of up to maxHistoryGroups groups.
func (c *Console) sampleLag(ctx context.Context) (kadm.DescribedGroupLags, error) {
	listed, err := c.adm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	names := listed.Groups()
	sort.Strings(names)
	if len(names) > maxHistoryGroups {
		names = names[:maxHistoryGroups]
	}
	if len(names) == 0 {
		return nil, nil
	}
	lags, err := c.adm.Lag(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("group lag: %w", err)
	}
	return lags, nil
}

// history returns the overview's series.
func (c *Console) history() History {
	h := c.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	return History{IntervalMs: c.cfg.SampleInterval.Milliseconds(), Records: h.mu.records.points(), Bytes: h.mu.bytes.points(),
		FsyncMs: h.mu.fsync.points(), Fsync: c.cfg.Metrics != nil}
}

// lagHistory returns group's total lag samples, oldest first.
func (c *Console) lagHistory(group string) []Point {
	h := c.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.mu.lag[group]; r != nil {
		return r.points()
	}
	return []Point{}
}

func (c *Console) handleHistory(w http.ResponseWriter, _ *http.Request) {
	writeJSONBody(w, c.history())
}

func (c *Console) handleLagHistory(w http.ResponseWriter, r *http.Request) {
	writeJSONBody(w, c.lagHistory(r.PathValue("group")))
}

func writeJSONBody(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// Spark is a series drawn as an SVG polyline in a w×h box.
type Spark struct {
	W, H   int
	Points string // the polyline's points attribute
	Last   string // the newest value, formatted
	Max    string // the largest value shown, formatted
}

// spark scales pts into a w×h box (y up), value axis from 0.
func spark(pts []Point, w, h int, format func(float64) string) Spark {
	s := Spark{W: w, H: h, Last: "–", Max: format(0)}
	if len(pts) == 0 {
		return s
	}
	hi := 0.0
	for _, p := range pts {
		hi = max(hi, p.V)
	}
	t0, t1 := pts[0].T, pts[len(pts)-1].T
	var b strings.Builder
	for i, p := range pts {
		x := float64(w) / 2
		if t1 > t0 {
			x = float64(p.T-t0) / float64(t1-t0) * float64(w)
		}
		y := float64(h)
		if hi > 0 {
			y = float64(h) - p.V/hi*float64(h-2) - 1
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatFloat(x, 'f', 1, 64) + "," + strconv.FormatFloat(y, 'f', 1, 64))
	}
	s.Points, s.Last, s.Max = b.String(), format(pts[len(pts)-1].V), format(hi)
	return s
}

func fmtRate(v float64) string  { return strconv.FormatFloat(v, 'f', 1, 64) + "/s" }
func fmtMs(v float64) string    { return strconv.FormatFloat(v, 'f', 2, 64) + " ms" }
func fmtCount(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

// Sizes of the overview's sparklines and the group page's lag chart.
const (
	sparkW, sparkH = 240, 40
	chartW, chartH = 640, 140
)

// lagChart draws group's lag history.
func (c *Console) lagChart(group string) Spark {
	return spark(c.lagHistory(group), chartW, chartH, fmtCount)
}

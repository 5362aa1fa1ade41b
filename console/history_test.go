package console_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/testenv"
)

// The sampler turns produced records into a throughput series, fsyncs
// into a latency series, and a stopped group's lag into its history.
func TestHistory(t *testing.T) {
	e := newEnv(t, heraldtest.WithTopics(1, "orders"))
	e.produce(&kgo.Record{Topic: "orders", Value: []byte("a")}, &kgo.Record{Topic: "orders", Value: []byte("b")})
	consume(t, e, "billing", "orders", 2)
	for i := 0; i < 5; i++ {
		e.produce(&kgo.Record{Topic: "orders", Value: []byte("c")})
	}
	testenv.CheckFor(t, 20*time.Second, func() error {
		var h console.History
		if err := e.getJSON("/api/history", &h); err != nil {
			return err
		}
		if !h.Fsync || h.IntervalMs != 200 {
			return fmt.Errorf("fsync %v, interval %d", h.Fsync, h.IntervalMs)
		}
		var records, fsync float64
		for _, p := range h.Records {
			records += p.V * float64(h.IntervalMs) / 1000
		}
		for _, p := range h.FsyncMs {
			fsync = max(fsync, p.V)
		}
		if records < 5 || fsync <= 0 {
			return fmt.Errorf("%.1f records and %.3f ms peak fsync in the history, want >= 5 and > 0", records, fsync)
		}
		return nil
	})
	testenv.CheckFor(t, 20*time.Second, func() error {
		var pts []console.Point
		if err := e.getJSON("/api/groups/billing/lag/history", &pts); err != nil {
			return err
		}
		if len(pts) == 0 || pts[len(pts)-1].V != 5 {
			return fmt.Errorf("lag history %v, want it to end at 5", pts)
		}
		return nil
	})
	_, body := e.get("/groups/billing")
	mustContain(t, "group page", body, `id="lag-chart"`, `<polyline points="`)
	_, body = e.get("/")
	mustContain(t, "overview", body, `id="spark-records"`, `id="spark-fsync"`)
	var pts []console.Point
	if err := e.getJSON("/api/groups/nobody/lag/history", &pts); err != nil || len(pts) != 0 {
		t.Fatalf("unknown group's history: %v, %v", pts, err)
	}
}

// getJSON fetches path and decodes its JSON body into v.
func (e *env) getJSON(path string, v any) error {
	status, body := e.get(path)
	if status != 200 {
		return fmt.Errorf("GET %s: %d %s", path, status, body)
	}
	return json.Unmarshal([]byte(body), v)
}

package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/heraldtest"
)

// flowRecord is one CloudEvent of a correlation chain.
func flowRecord(topic, id, corr, cause, typ string, at time.Time) *kgo.Record {
	h := []kgo.RecordHeader{{Key: "ce_id", Value: []byte(id)}, {Key: "ce_type", Value: []byte(typ)},
		{Key: "ce_source", Value: []byte("/" + topic)}, {Key: "ce_correlationid", Value: []byte(corr)},
		{Key: "ce_time", Value: []byte(at.UTC().Format(time.RFC3339Nano))}}
	if cause != "" {
		h = append(h, kgo.RecordHeader{Key: "ce_causationid", Value: []byte(cause)})
	}
	return &kgo.Record{Topic: topic, Key: []byte(corr), Value: []byte(`{"id":"` + id + `"}`), Headers: h, Timestamp: at}
}

// produceChain writes order o-7's three hops, orders -> payments ->
// shipments, and one event of another flow.
func produceChain(e *env) time.Time {
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	e.produce(
		flowRecord("orders", "evt-order", "corr-7", "", "order.placed", t0),
		flowRecord("orders", "evt-other", "corr-8", "", "order.placed", t0.Add(time.Millisecond)),
	)
	e.produce(flowRecord("payments", "evt-paid", "corr-7", "evt-order", "payment.captured", t0.Add(150*time.Millisecond)))
	e.produce(flowRecord("shipments", "evt-shipped", "corr-7", "evt-paid", "shipment.sent", t0.Add(1150*time.Millisecond)))
	return t0
}

func TestTraceAPI(t *testing.T) {
	e := newEnv(t, heraldtest.WithTopics(1, "orders", "payments", "shipments"))
	produceChain(e)
	// billing processed the order; shipping has read nothing of payments.
	consume(t, e, "billing", "orders", 2)
	commitAt(t, e, "shipping", "payments", 0)

	status, body := e.get("/api/trace/evt-paid")
	if status != http.StatusOK {
		t.Fatalf("GET /api/trace/evt-paid: %d %s", status, body)
	}
	var tr console.Trace
	if err := json.Unmarshal([]byte(body), &tr); err != nil {
		t.Fatal(err)
	}
	if len(tr.Nodes) != 3 {
		t.Fatalf("%d events, want 3: %s", len(tr.Nodes), body)
	}
	for i, want := range []string{"evt-order", "evt-paid", "evt-shipped"} {
		if tr.Nodes[i].ID != want || tr.Nodes[i].Depth != i {
			t.Errorf("event %d: %s at depth %d, want %s at %d", i, tr.Nodes[i].ID, tr.Nodes[i].Depth, want, i)
		}
	}
	if len(tr.Edges) != 2 || tr.Edges[0].From != "evt-order" || tr.Edges[0].To != "evt-paid" || tr.Edges[0].GapMs != 150 ||
		tr.Edges[1].GapMs != 1000 || tr.Edges[1].Gap != "+1s" {
		t.Errorf("edges: %+v", tr.Edges)
	}
	if got := tr.Nodes[0].ProcessedBy; len(got) != 1 || got[0] != "billing" {
		t.Errorf("order processed by %v, want [billing]", got)
	}
	if got := tr.Nodes[1].PendingIn; len(got) != 1 || got[0] != "shipping" {
		t.Errorf("payment pending in %v, want [shipping]", got)
	}
	if n := tr.Nodes[2]; len(n.ProcessedBy)+len(n.PendingIn) != 0 {
		t.Errorf("no group reads shipments, yet: %+v", n)
	}

	status, body = e.get("/trace/corr-7")
	if status != http.StatusOK {
		t.Fatalf("trace page: %d", status)
	}
	mustContain(t, "trace page", body, `id="trace-graph"`, "order.placed", "payment.captured", "shipment.sent", "&#43;150ms", "✓ billing", "… shipping")

	if status, body = e.get("/trace/nope"); status != http.StatusNotFound {
		t.Fatalf("unknown id: %d", status)
	}
	mustContain(t, "404 page", body, `no event has the correlation id or event id &#34;nope&#34;`)
	if status, _ = e.get("/api/trace/nope"); status != http.StatusNotFound {
		t.Fatalf("unknown id, API: %d", status)
	}
	if status, _ = e.get("/trace?id=corr-7"); status != http.StatusOK {
		t.Fatalf("trace form redirect: %d", status)
	}
}

// A console in front of a cluster without the index says so.
func TestTraceWithoutTracer(t *testing.T) {
	b := heraldtest.NewBroker(t)
	c, err := console.New(console.Config{Brokers: []string{b.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hs := httptest.NewServer(c)
	defer hs.Close()
	e := &env{t: t, b: b, c: c, hs: hs}
	status, body := e.get("/trace/x")
	if status != http.StatusNotImplemented {
		t.Fatalf("status %d", status)
	}
	mustContain(t, "page", body, "correlation index")
	if status, body = e.get("/trace"); status != http.StatusOK {
		t.Fatalf("form: %d", status)
	}
	mustContain(t, "form", body, "herald serve</code> has one")
}

// commitAt commits offset for group on partition 0 of topic.
func commitAt(t *testing.T, e *env, group, topic string, offset int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	os := kadm.Offsets{}
	os.AddOffset(topic, 0, offset, -1)
	resp, err := kadm.NewClient(e.kcl).CommitOffsets(ctx, group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit %s %s@%d: %v", group, topic, offset, err)
	}
}

// TestTraceScanFallback: in front of a cluster without Herald's
// correlation index (franz-go's kfake here, as Apache Kafka or Redpanda
// would be), Config.TraceScanWindow makes the trace page and API find a
// flow by scanning the window; events older than the window are not
// found.
func TestTraceScanFallback(t *testing.T) {
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders", "payments", "shipments"))
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()
	c, err := console.New(console.Config{Brokers: kf.ListenAddrs(), TraceScanWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hs := httptest.NewServer(c)
	defer hs.Close()
	kcl, err := kgo.NewClient(kgo.SeedBrokers(kf.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	e := &env{t: t, hs: hs, c: c, kcl: kcl}
	produceChain(e)
	// An event of the same flow from two hours ago, outside the window.
	e.produce(flowRecord("orders", "evt-ancient", "corr-7", "", "order.placed", time.Now().Add(-2*time.Hour)))

	for _, id := range []string{"corr-7", "evt-shipped"} {
		status, body := e.get("/api/trace/" + id)
		if status != http.StatusOK {
			t.Fatalf("GET /api/trace/%s: %d %s", id, status, body)
		}
		var tr console.Trace
		if err := json.Unmarshal([]byte(body), &tr); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, n := range tr.Nodes {
			ids = append(ids, n.ID)
		}
		if fmt.Sprint(ids) != "[evt-order evt-paid evt-shipped]" || len(tr.Edges) != 2 {
			t.Fatalf("trace of %s: events %v, %d edges; want the three hops", id, ids, len(tr.Edges))
		}
	}
	if status, _ := e.get("/api/trace/nope"); status != http.StatusNotFound {
		t.Fatalf("unknown id: %d, want 404", status)
	}
	status, body := e.get("/trace/corr-7")
	if status != http.StatusOK {
		t.Fatalf("trace page: %d", status)
	}
	mustContain(t, "trace page", body, "order.placed", "payment.captured", "shipment.sent")
}

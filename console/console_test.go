package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/registry/serde"
)

// TestPages: every page answers with the cluster's content.
func TestPages(t *testing.T) {
	e := newEnv(t, heraldtest.WithTopics(2, "orders"))
	e.produce(&kgo.Record{Topic: "orders", Partition: 1, Key: []byte("o-1"), Value: []byte(`{"id":"o-1","total":42}`),
		Headers: []kgo.RecordHeader{{Key: "ce_type", Value: []byte("order.placed")}, {Key: "trace", Value: []byte("t-9")}}})
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{"Brokers", `href="/topics/orders"`, "<td>2</td>"}},
		{"/topics", []string{`href="/topics/orders"`, "Create a topic"}},
		{"/topics/orders", []string{`id="partitions"`, "<td>1</td><td>0</td><td>[0]</td><td>0</td><td>1</td><td>1</td>", "Delete this topic", "Size on disk"}},
		{"/topics/orders/messages", []string{"o-1", "&#34;total&#34;:42", "ce_type", "order.placed", `class="h ce"`, "1 records shown"}},
		{"/topics/orders/messages?from=beginning&key=o-", []string{"o-1"}},
		{"/topics/orders/messages?from=offset&partition=1&offset=0&header=ce_type%3Dorder.placed", []string{"o-1"}},
		{"/topics/orders/messages?text=total&regex=%5E%5C%7B", []string{"o-1"}},
		{"/topics/orders/messages?path=%24.total%3D42", []string{"o-1", "1 records shown"}},
		{"/topics/orders/messages?path=%24.id", []string{"o-1", "1 records shown"}},
		{"/topics/orders/messages?path=%24.total%3D41", []string{"0 records shown"}},
		{"/groups", []string{"No consumer groups yet."}},
		{"/schemas", []string{"Global compatibility level", "BACKWARD"}},
		{"/healthz", []string{"ok"}},
		{"/readyz", []string{"ready"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			status, body := e.get(tc.path)
			if status != http.StatusOK {
				t.Fatalf("status %d:\n%s", status, clip(body))
			}
			mustContain(t, tc.path, body, tc.want...)
		})
	}
	resp, err := e.hs.Client().Get(e.hs.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("Content-Security-Policy %q", csp)
	}
	// A filter that matches nothing shows nothing.
	_, body := e.get("/topics/orders/messages?key=nope")
	mustContain(t, "key=nope", body, "0 records shown")
	if strings.Contains(body, "o-1") {
		t.Fatalf("key filter nope shows o-1")
	}
}

// TestBadInput: unknown topics, groups, subjects and pages are 404 pages;
// malformed filters are 400 with a message naming the field.
func TestBadInput(t *testing.T) {
	e := newEnv(t, heraldtest.WithTopics(1, "orders"))
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/topics/nope", 404, `topic &#34;nope&#34; does not exist`},
		{"/topics/nope/messages", 404, `topic &#34;nope&#34; does not exist`},
		{"/topics/nope/partitions/0/offsets/0/value", 404, "does not exist"},
		{"/topics/orders/partitions/0/offsets/7/value", 404, "no record at offset 7"},
		{"/groups/nope", 404, `group &#34;nope&#34; does not exist`},
		{"/schemas/nope", 404, "nope"},
		{"/no/such/page", 404, "no page at /no/such/page"},
		{"/topics/orders/messages?regex=(%5B", 400, "regex filter &#34;([&#34; is not a valid RE2 expression"},
		{"/topics/orders/messages?header=%3Dx", 400, "header filter &#34;=x&#34;: want name or name=value"},
		{"/topics/orders/messages?from=offset&offset=abc", 400, "offset &#34;abc&#34;: want an offset"},
		{"/topics/orders/messages?partition=x", 400, "partition &#34;x&#34;"},
		{"/topics/orders/messages?partition=5", 404, "has no partition 5"},
		{"/topics/orders/messages?from=time&time=yesterday", 400, "time &#34;yesterday&#34;: want RFC 3339"},
		{"/topics/orders/messages?from=nowhere", 400, "from &#34;nowhere&#34;"},
		{"/topics/orders/messages?limit=0", 400, "limit &#34;0&#34;"},
		{"/topics/orders/messages?path=status", 400, "JSONPath filter &#34;status&#34;: want $.field"},
		{"/topics/orders/messages?path=%24.items%5Bx%5D", 400, "JSONPath filter"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			status, body := e.get(tc.path)
			if status != tc.status {
				t.Fatalf("status %d, want %d:\n%s", status, tc.status, clip(body))
			}
			mustContain(t, tc.path, body, tc.want)
		})
	}
	// The 400 page keeps the form, filled in, above the message.
	_, body := e.get("/topics/orders/messages?regex=(%5B&key=k1")
	mustContain(t, "malformed filter page", body, `id="browse-form"`, `name="key" value="k1"`, `id="filter-error"`)
}

// TestValues: a huge value is cut with a download link that serves it
// whole; non-UTF-8 is hex; registry-encoded Avro, JSON Schema and
// Protobuf values show as JSON.
func TestValues(t *testing.T) {
	e := newEnv(t, heraldtest.WithTopics(1, "vals"))
	ctx := context.Background()
	huge := bytes.Repeat([]byte("abcdefgh"), 4096) // 32 KiB, limit 1 KiB
	avroID := registerAndEncode(t, e, "vals-avro", sr.Schema{Type: sr.TypeAvro,
		Schema: `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"qty","type":"long"}]}`},
		map[string]any{"id": "avro-order", "qty": int64(3)})
	jsonID := registerAndEncode(t, e, "vals-json", sr.Schema{Type: sr.TypeJSON,
		Schema: `{"type":"object","properties":{"id":{"type":"string"}}}`}, map[string]any{"id": "json-order"})
	protoVal := protoValue(t, e)
	e.produce(
		&kgo.Record{Topic: "vals", Key: []byte("huge"), Value: huge},
		&kgo.Record{Topic: "vals", Key: []byte("bin"), Value: []byte{0xff, 0xfe, 0x00, 0x01}},
		&kgo.Record{Topic: "vals", Key: []byte("avro"), Value: avroID},
		&kgo.Record{Topic: "vals", Key: []byte("json"), Value: jsonID},
		&kgo.Record{Topic: "vals", Key: []byte("proto"), Value: protoVal},
		&kgo.Record{Topic: "vals", Key: []byte("tomb")},
	)
	_, body := e.get("/topics/vals/messages?from=beginning")
	mustContain(t, "messages", body,
		`href="/topics/vals/partitions/0/offsets/0/value">truncated: download all 32768 bytes`,
		"fffe0001", `class="v hex"`,
		"avro #", "&#34;id&#34;:&#34;avro-order&#34;", "&#34;qty&#34;:3",
		"jsonschema #", "&#34;id&#34;:&#34;json-order&#34;",
		"protobuf #", "&#34;sku&#34;:&#34;proto-sku&#34;",
		"null (tombstone)")
	if strings.Contains(body, string(huge[:2048])) {
		t.Fatalf("the huge value is shown whole")
	}
	resp, err := e.hs.Client().Get(e.hs.URL + "/topics/vals/partitions/0/offsets/0/value")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got bytes.Buffer
	_, _ = got.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(got.Bytes(), huge) || !strings.Contains(resp.Header.Get("Content-Disposition"), "vals-0-0.bin") {
		t.Fatalf("download: status %d, %d bytes, disposition %q", resp.StatusCode, got.Len(), resp.Header.Get("Content-Disposition"))
	}
	// The JSON API gives values whole.
	var out struct{ Records []console.Record }
	_, js := e.get("/topics/vals/records?from=beginning&key=huge")
	if err := json.Unmarshal([]byte(js), &out); err != nil || len(out.Records) != 1 || out.Records[0].Value.Data != string(huge) || out.Records[0].Value.Truncated {
		t.Fatalf("records API: %v, %d records", err, len(out.Records))
	}
	_ = ctx
}

func registerAndEncode(t *testing.T, e *env, subject string, s sr.Schema, v any) []byte {
	t.Helper()
	enc, err := serde.New(e.src).Encoder(context.Background(), subject, s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := enc.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCreateDeleteTopic: forms need the CSRF token, deleting needs the
// name typed again, and browsers' cross-site posts are refused.
func TestCreateDeleteTopic(t *testing.T) {
	e := newEnv(t)
	if status, body := e.post("/topics", url.Values{"csrf": {"wrong"}, "name": {"t1"}, "partitions": {"3"}}); status != 403 || !strings.Contains(body, "CSRF") {
		t.Fatalf("bad token: %d\n%s", status, clip(body))
	}
	if status, body := e.post("/topics", url.Values{"name": {"t1"}, "partitions": {"0"}}); status != 400 || !strings.Contains(body, "partitions") {
		t.Fatalf("0 partitions: %d\n%s", status, clip(body))
	}
	if status, body := e.post("/topics", url.Values{"name": {"t1"}, "partitions": {"3"}, "configs": {"retention.ms=60000"}}); status != 200 || !strings.Contains(body, `id="partition-count">3<`) {
		t.Fatalf("create: %d\n%s", status, clip(body))
	}
	if status, body := e.post("/topics", url.Values{"name": {"t1"}, "partitions": {"1"}}); status != 400 || !strings.Contains(body, "TOPIC_ALREADY_EXISTS") {
		t.Fatalf("create again: %d\n%s", status, clip(body))
	}
	req, _ := http.NewRequest("POST", e.hs.URL+"/topics/t1/delete", strings.NewReader(url.Values{"csrf": {e.csrf()}, "confirm": {"t1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := e.hs.Client().Do(req); err != nil || resp.StatusCode != 403 {
		t.Fatalf("cross-site delete: %v %v", err, resp)
	}
	if status, body := e.post("/topics/t1/delete", url.Values{"confirm": {"t2"}}); status != 400 || !strings.Contains(body, "type its name") {
		t.Fatalf("wrong confirmation: %d\n%s", status, clip(body))
	}
	if status, _ := e.get("/topics/t1"); status != 200 {
		t.Fatalf("t1 gone after a refused delete: %d", status)
	}
	if status, body := e.post("/topics/t1/delete", url.Values{"confirm": {"t1"}}); status != 200 || !strings.Contains(body, `<h1>Topics</h1>`) {
		t.Fatalf("delete: %d\n%s", status, clip(body))
	}
	testenv.CheckFor(t, 10*time.Second, func() error { // deletion completes in the background, as in Kafka
		if status, _ := e.get("/topics/t1"); status != 404 {
			return fmt.Errorf("t1 after delete: %d", status)
		}
		return nil
	})
}

// TestGroupLagAndReset: a stopped consumer's lag shows; a reset preview
// changes nothing; applying it moves the committed offsets; a group with
// members refuses.
func TestGroupLagAndReset(t *testing.T) {
	e := newEnv(t, heraldtest.WithTopics(2, "work"))
	for i := range 10 {
		e.produce(&kgo.Record{Topic: "work", Partition: int32(i % 2), Value: []byte(fmt.Sprint(i))})
	}
	consume(t, e, "workers", "work", 4)
	for i := range 6 {
		e.produce(&kgo.Record{Topic: "work", Partition: int32(i % 2), Value: []byte(fmt.Sprint(i))})
	}
	status, body := e.get("/groups/workers")
	if status != 200 {
		t.Fatalf("group page %d\n%s", status, clip(body))
	}
	mustContain(t, "group page", body, `id="group-state">Empty<`, `id="total-lag">12<`, `data-tp="work/0"`, `data-tp="work/1"`)
	_, list := e.get("/groups")
	mustContain(t, "groups", list, `href="/groups/workers"`, "<td>12</td>")

	status, body = e.post("/groups/workers/reset", url.Values{"topic": {"work"}, "strategy": {"earliest"}, "preview": {"1"}})
	if status != 200 {
		t.Fatalf("preview %d\n%s", status, clip(body))
	}
	mustContain(t, "preview", body, "Preview (nothing changed yet)", `id="total-lag">12<`, "Apply this reset")
	_, after := e.get("/groups/workers")
	mustContain(t, "after preview", after, `id="total-lag">12<`)

	status, body = e.post("/groups/workers/reset", url.Values{"topic": {"work"}, "strategy": {"earliest"}, "apply": {"1"}})
	if status != 200 {
		t.Fatalf("apply %d\n%s", status, clip(body))
	}
	mustContain(t, "apply", body, `id="reset-applied"`, `id="total-lag">16<`)

	status, body = e.post("/groups/workers/reset", url.Values{"topic": {"work"}, "strategy": {"offset"}, "value": {"-3"}})
	if status != 400 || !strings.Contains(body, "want an offset") {
		t.Fatalf("bad offset: %d\n%s", status, clip(body))
	}
}

// consume reads n records of topic in group and commits, then leaves.
func consume(t *testing.T, e *env, group, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr()), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := 0
	for got < n {
		fs := cl.PollRecords(ctx, n-got)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		got += fs.NumRecords()
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
}

// TestReadyz: a console whose cluster is down is not ready, but alive.
func TestReadyz(t *testing.T) {
	c, err := console.New(console.Config{Brokers: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503} {
		rec := newRecorder()
		c.ServeHTTP(rec, mustRequest(t, "GET", path))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d: %s", path, rec.Code, want, rec.Body)
		}
	}
	if _, err := console.New(console.Config{}); err == nil || !strings.Contains(err.Error(), "no brokers") {
		t.Fatalf("New without brokers: %v", err)
	}
}

// TestResetRefusedWithMembers: a group with a member keeps its offsets;
// the page says to stop the consumers and still shows the preview.
func TestResetRefusedWithMembers(t *testing.T) {
	e := newEnv(t, heraldtest.WithTopics(1, "busy"))
	e.produce(&kgo.Record{Topic: "busy", Value: []byte("a")})
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr()), kgo.ConsumerGroup("live"), kgo.ConsumeTopics("busy"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if fs := cl.PollFetches(ctx); fs.Err0() != nil || fs.NumRecords() != 1 {
		t.Fatalf("poll: %v, %d records", fs.Err0(), fs.NumRecords())
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	_, body := e.get("/groups/live")
	mustContain(t, "group with a member", body, `id="group-state">Stable<`, `id="member-count">1<`, "busy/0")
	status, body := e.post("/groups/live/reset", url.Values{"topic": {"busy"}, "strategy": {"earliest"}, "apply": {"1"}})
	if status != http.StatusConflict {
		t.Fatalf("apply with a member: %d\n%s", status, clip(body))
	}
	mustContain(t, "refused reset", body, "has 1 active members: stop its consumers", `id="reset-plan"`)
	_, body = e.get("/groups/live")
	mustContain(t, "after the refused reset", body, `<td class="committed">1</td>`)
}

// TestTransactionMarkers: a range that ends in a transaction's commit
// marker (an offset with no record) still browses completely.
func TestTransactionMarkers(t *testing.T) {
	e := newEnv(t, heraldtest.WithTopics(1, "tx"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr()), kgo.TransactionalID("console-tx"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "tx", Key: []byte("t-1")}, &kgo.Record{Topic: "tx", Key: []byte("t-2")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// The coordinator writes the commit marker after EndTransaction
	// returns, as Kafka's does: wait for the end offset to pass it.
	testenv.CheckFor(t, 10*time.Second, func() error {
		if _, body := e.get("/topics/tx"); !strings.Contains(body, "<td>0</td><td>3</td><td>3</td>") { // start, end, offsets
			return fmt.Errorf("the marker is not written yet")
		}
		return nil
	})
	status, body := e.get("/topics/tx/messages?from=beginning")
	if status != 200 {
		t.Fatalf("status %d\n%s", status, clip(body))
	}
	mustContain(t, "transactional topic", body, "t-1", "t-2", "2 records shown")
}

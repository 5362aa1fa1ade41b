package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/registry/protobuf"
	"github.com/heraldhq/herald/registry/serde"
)

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func mustRequest(t *testing.T, method, path string) *http.Request {
	t.Helper()
	return httptest.NewRequest(method, path, nil)
}

// protoValue registers a Protobuf schema and encodes an Item with it.
func protoValue(t *testing.T, e *env) []byte {
	t.Helper()
	text := `syntax = "proto3"; package shop; message Item { string sku = 1; int32 count = 2; }`
	ss, err := e.src.CreateSchema(context.Background(), "vals-proto", sr.Schema{Type: sr.TypeProtobuf, Schema: text})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := protobuf.Parse(text, nil)
	if err != nil {
		t.Fatal(err)
	}
	md := ps.File.Messages().ByName("Item")
	m := dynamicpb.NewMessage(md)
	m.Set(md.Fields().ByName("sku"), protoreflectString("proto-sku"))
	b := protobuf.AppendIndexes(serde.AppendHeader(nil, ss.ID), protobuf.Indexes(md))
	payload, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, payload...)
}

// produceHTTP posts body to path and returns the status and the responses.
func produceHTTP(t *testing.T, e *env, path, body string) (int, []console.ProduceResponse) {
	t.Helper()
	resp, err := e.hs.Client().Post(e.hs.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []console.ProduceResponse
	dec := json.NewDecoder(resp.Body)
	for dec.More() {
		var r console.ProduceResponse
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("response: %v", err)
		}
		out = append(out, r)
	}
	return resp.StatusCode, out
}

// TestProduceAPI: REST Proxy v3-shaped produce, at both paths, with every
// data type, and its errors.
func TestProduceAPI(t *testing.T) {
	e := newEnv(t, heraldtest.WithTopics(3, "api"))
	if _, err := e.src.CreateSchema(context.Background(), "api-value", sr.Schema{Type: sr.TypeAvro,
		Schema: `{"type":"record","name":"Pay","fields":[{"name":"id","type":"string"},{"name":"cents","type":"long"}]}`}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.src.CreateSchema(context.Background(), "api-proto", sr.Schema{Type: sr.TypeProtobuf,
		Schema: `syntax = "proto3"; package pay; message Refund { string id = 1; int64 cents = 2; } message Other { bool x = 1; }`}); err != nil {
		t.Fatal(err)
	}
	status, out := produceHTTP(t, e, "/topics/api/records",
		`{"partition_id":0,"value":{"type":"PROTOBUF","subject":"api-proto","message":"Refund","data":{"id":"r-1","cents":"250"}}}`)
	if status != 200 || len(out) != 1 || out[0].Value.Type != "PROTOBUF" {
		t.Fatalf("protobuf produce: %d %+v", status, out)
	}
	_, pbody := e.get("/topics/api/records?partition=0&from=beginning")
	mustContain(t, "protobuf record", pbody, `"format":"protobuf"`, `\"id\":\"r-1\"`, `\"cents\":\"250\"`)
	status, out = produceHTTP(t, e, "/v3/clusters/any/topics/api/records",
		`{"partition_id":2,"headers":[{"name":"ce_type","value":"b3JkZXIucGFpZA=="}],"key":{"type":"STRING","data":"o-7"},"value":{"type":"JSON","data":{"paid":true}}}
		 {"partition_id":1,"key":{"type":"BINARY","data":"AAEC"},"value":{"type":"AVRO","data":{"id":"p-1","cents":995}}}`)
	if status != 200 || len(out) != 2 {
		t.Fatalf("produce: %d %+v", status, out)
	}
	if out[0].ErrorCode != 200 || out[0].PartitionID != 2 || out[0].Offset != 0 || out[0].Key.Type != "STRING" || out[0].Value.Size != len(`{"paid":true}`) {
		t.Fatalf("first response %+v", out[0])
	}
	if out[1].PartitionID != 1 || out[1].Key.Size != 3 || out[1].Value.Type != "AVRO" {
		t.Fatalf("second response %+v", out[1])
	}
	_, body := e.get("/topics/api/records?from=beginning")
	var got struct{ Records []console.Record }
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Records) != 3 {
		t.Fatalf("consume: %v\n%s", err, body)
	}
	byKey := map[string]console.Record{}
	for _, r := range got.Records {
		byKey[r.Key.Data] = r
	}
	if r := byKey["o-7"]; r.Partition != 2 || r.Value.Data != `{"paid":true}` || r.CloudEvent()["type"] != "order.paid" {
		t.Fatalf("o-7 read back as %+v", r)
	}
	if r := byKey["000102"]; r.Key.Format != console.FormatHex || r.Value.Format != console.FormatAvro || r.Value.Data != `{"cents":995,"id":"p-1"}` {
		t.Fatalf("binary-keyed record read back as %+v", r)
	}
	for _, tc := range []struct {
		path, body string
		status     int
		want       string
	}{
		{"/topics/nope/records", `{"value":{"data":1}}`, 404, "does not exist"},
		{"/topics/api/records", `{"partition_id":3,"value":{"data":1}}`, 400, "partition_id 3"},
		{"/topics/api/records", `{"value":`, 400, "request body"},
		{"/topics/api/records", ``, 400, "no record"},
		{"/topics/api/records", `{"value":{"type":"STRING","data":"` + strings.Repeat("x", 17<<20) + `"}}`, 413, "over 16777216 bytes"},
		{"/topics/api/records", `{"value":{"type":"BINARY","data":"***"}}`, 400, "not base64"},
		{"/topics/api/records", `{"value":{"type":"XML","data":"<a/>"}}`, 400, "want BINARY"},
		{"/topics/api/records", `{"value":{"type":"AVRO","data":{"id":1}}}`, 400, "does not fit"},
		{"/topics/api/records", `{"headers":[{"name":"h","value":"%%"}],"value":{"data":1}}`, 400, "not base64"},
		{"/topics/api/records", `{"value":{"type":"PROTOBUF","subject":"api-proto","data":{"nope":1}}}`, 400, "not a pay.Refund in protojson"},
		{"/topics/api/records", `{"value":{"type":"PROTOBUF","subject":"api-proto","message":"Gone","data":{}}}`, 400, "no message"},
		{"/topics/api/records", `{"value":{"type":"PROTOBUF","data":{}}}`, 400, "not PROTOBUF"},
	} {
		resp, err := e.hs.Client().Post(e.hs.URL+tc.path, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		var eb struct {
			ErrorCode int    `json:"error_code"`
			Message   string `json:"message"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != tc.status || eb.ErrorCode != tc.status || !strings.Contains(eb.Message, tc.want) {
			t.Errorf("%s %s: %d %+v, want %d %q", tc.path, clip(tc.body), resp.StatusCode, eb, tc.status, tc.want)
		}
	}
	// Nothing of the refused requests was written.
	_, body = e.get("/topics/api/records?from=beginning")
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Records) != 3 {
		t.Fatalf("after refused requests: %v, %d records", err, len(got.Records))
	}
}

// sseEvent is one event of a stream.
type sseEvent struct {
	id, event, data string
}

// openStream opens path with lastID and sends its events on a channel
// until the response ends; cancel closes the connection.
func openStream(t *testing.T, e *env, path, lastID string) (<-chan sseEvent, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.hs.URL+path, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := e.hs.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("stream %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan sseEvent, 1000)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.event != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return ch, cancel
}

// next waits for the stream's next record event.
func next(t *testing.T, ch <-chan sseEvent) (sseEvent, console.Record) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("stream ended")
		}
		if ev.event != "record" {
			t.Fatalf("event %q: %s", ev.event, ev.data)
		}
		var r console.Record
		if err := json.Unmarshal([]byte(ev.data), &r); err != nil {
			t.Fatal(err)
		}
		return ev, r
	case <-time.After(20 * time.Second):
		t.Fatal("no event within 20s")
	}
	return sseEvent{}, console.Record{}
}

// TestSSEResume: a client that disconnects and comes back with the last
// event's id as Last-Event-ID gets every record once, in order per
// partition, including those produced while it was away.
func TestSSEResume(t *testing.T) {
	e := newEnv(t, heraldtest.WithTopics(3, "feed"))
	produceN := func(from, to int) {
		for i := from; i < to; i++ {
			e.produce(&kgo.Record{Topic: "feed", Partition: int32(i % 3), Value: []byte(fmt.Sprint(i))})
		}
	}
	produceN(0, 9)
	seen := map[string]int{}
	ch, cancel := openStream(t, e, "/topics/feed/events?from=beginning", "")
	var lastID string
	for range 5 {
		ev, r := next(t, ch)
		seen[r.Value.Data]++
		lastID = ev.id
	}
	cancel()
	for range ch { // drain what was buffered before the disconnect; a browser loses it
	}
	produceN(9, 20)
	ch, cancel = openStream(t, e, "/topics/feed/events", lastID)
	defer cancel()
	for len(seen) < 20 {
		_, r := next(t, ch)
		seen[r.Value.Data]++
	}
	for i := range 20 {
		if seen[fmt.Sprint(i)] != 1 {
			t.Fatalf("record %d seen %d times: %v", i, seen[fmt.Sprint(i)], seen)
		}
	}
	// A new stream from the end gets only what comes next.
	ch2, cancel2 := openStream(t, e, "/topics/feed/events?from=end", "")
	defer cancel2()
	produceN(20, 21)
	if _, r := next(t, ch2); r.Value.Data != "20" {
		t.Fatalf("from=end: first record %q", r.Value.Data)
	}
	// Bad ids and unknown topics are refused.
	for path, want := range map[string]int{"/topics/nope/events": 404, "/topics/feed/events?from=someday": 400} {
		if status, _ := e.get(path); status != want {
			t.Errorf("%s: %d, want %d", path, status, want)
		}
	}
	req, _ := http.NewRequest("GET", e.hs.URL+"/topics/feed/events", nil)
	req.Header.Set("Last-Event-ID", "0:x")
	resp, err := e.hs.Client().Do(req)
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("bad Last-Event-ID: %v %v", err, resp)
	}
	resp.Body.Close()
}

// TestCursor: ids round-trip; malformed ones are errors.
func TestCursor(t *testing.T) {
	c := console.Cursor{2: 9, 0: 6, 1: 0}
	if c.String() != "0:6,1:0,2:9" {
		t.Fatalf("String = %q", c.String())
	}
	back, err := console.ParseCursor(c.String())
	if err != nil || back.String() != c.String() {
		t.Fatalf("ParseCursor = %v, %v", back, err)
	}
	for _, bad := range []string{"", "0", "0:-1", "a:1", "0:1,", "-1:0"} {
		if _, err := console.ParseCursor(bad); err == nil {
			t.Errorf("ParseCursor(%q) = nil error", bad)
		}
	}
}

// TestLagEvents: the group lag stream sends the lag, and it changes when
// records are produced.
func TestLagEvents(t *testing.T) {
	e := newEnv(t, heraldtest.WithTopics(1, "lagged"))
	e.produce(&kgo.Record{Topic: "lagged", Value: []byte("a")})
	consume(t, e, "g1", "lagged", 1)
	ch, cancel := openStream(t, e, "/groups/g1/lag/events", "")
	defer cancel()
	lagOf := func() int64 {
		select {
		case ev := <-ch:
			var gl console.GroupLag
			if err := json.Unmarshal([]byte(ev.data), &gl); err != nil || ev.event != "lag" {
				t.Fatalf("event %q %s: %v", ev.event, ev.data, err)
			}
			return gl.Total
		case <-time.After(20 * time.Second):
			t.Fatal("no lag event")
		}
		return -1
	}
	if l := lagOf(); l != 0 {
		t.Fatalf("lag %d, want 0", l)
	}
	e.produce(&kgo.Record{Topic: "lagged", Value: []byte("b")}, &kgo.Record{Topic: "lagged", Value: []byte("c")})
	deadline := time.Now().Add(20 * time.Second)
	for lagOf() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("lag never reached 2")
		}
	}
	if status, _ := e.get("/groups/nope/lag/events"); status != 404 {
		t.Fatalf("unknown group's stream: %d", status)
	}
}

func protoreflectString(s string) protoreflect.Value { return protoreflect.ValueOfString(s) }

// TestSampledTail: with max_rate the stream sends the newest records and
// says which it skipped; together they cover every offset once.
func TestSampledTail(t *testing.T) {
	e := newEnv(t, heraldtest.WithTopics(1, "fast"))
	ch, cancel := openStream(t, e, "/topics/fast/events?from=end&max_rate=5", "")
	defer cancel()
	recs := make([]*kgo.Record, 50)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "fast", Value: []byte(fmt.Sprint(i))}
	}
	e.produce(recs...) // one batch: visible at once
	covered := make([]int, 50)
	skips, shown := 0, 0
	for shown+skips == 0 || coveredAll(covered) != nil {
		select {
		case ev := <-ch:
			switch ev.event {
			case "skipped":
				var s console.Skipped
				if err := json.Unmarshal([]byte(ev.data), &s); err != nil {
					t.Fatal(err)
				}
				for o := s.From; o < s.To; o++ {
					covered[o]++
				}
				skips++
			case "record":
				var r console.Record
				if err := json.Unmarshal([]byte(ev.data), &r); err != nil {
					t.Fatal(err)
				}
				covered[r.Offset]++
				shown++
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("stream stalled: %v", coveredAll(covered))
		}
	}
	if skips != 1 || shown != 5 {
		t.Fatalf("%d skipped events and %d records, want 1 and 5", skips, shown)
	}
	if status, _ := e.get("/topics/fast/events?max_rate=0"); status != 400 {
		t.Fatalf("max_rate=0: %d", status)
	}
}

func coveredAll(c []int) error {
	for o, n := range c {
		if n != 1 {
			return fmt.Errorf("offset %d covered %d times", o, n)
		}
	}
	return nil
}

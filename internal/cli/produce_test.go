package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestProduceConsume(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "events", "-p", "1")
	r := ok(t, addr, "one\ntwo\n\nfour\n", "produce", "events", "--key", "k", "--header", "src=test")
	golden(t, "produce_summary", normalize(r.errOut, addr))
	ok(t, addr, "", "produce", "events", "--value", "five")

	golden(t, "consume_text", ok(t, addr, "", "consume", "events").out)
	golden(t, "consume_template", ok(t, addr, "", "consume", "events", "--format", `{{.Partition}}/{{.Offset}} {{.Key}}={{.Value}} {{range .Headers}}{{.Key}}:{{.Value}}{{end}}`).out)
	golden(t, "consume_headers", ok(t, addr, "", "consume", "events", "--print-headers", "--from", "-2").out)
	if got := ok(t, addr, "", "consume", "events", "--from", "1", "--count", "2").out; got != "two\n\n" {
		t.Fatalf("--from 1 --count 2: %q", got)
	}
	if got := ok(t, addr, "", "consume", "events", "--from", "end").out; got != "" {
		t.Fatalf("--from end: %q", got)
	}

	var recs []recordView
	for _, line := range strings.Split(strings.TrimSpace(ok(t, addr, "", "consume", "events", "--format", "json").out), "\n") {
		var v recordView
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		recs = append(recs, v)
	}
	if len(recs) != 5 || *recs[0].Value != "one" || *recs[0].Key != "k" || recs[0].Headers[0] != (recordHeader{"src", "test"}) || recs[4].Key != nil {
		t.Fatalf("json records: %+v", recs)
	}
}

func TestProduceJSON(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "j", "-p", "1")
	in := `{"key":"a","value":"1","headers":{"h":"x"}}
{"value":{"nested":[1, 2]},"timestamp":"2100-01-01T00:00:00Z"}
{"key":"c","value":"3","headers":[{"key":"z","value":"1"},{"key":"a","value":"2"}]}
`
	ok(t, addr, in, "produce", "j", "--json")
	golden(t, "consume_json", ok(t, addr, "", "consume", "j", "--format", `{{.Key}} {{.Value}} {{.Headers}}`).out)
	if got := ok(t, addr, "", "consume", "j", "--from", "@2100-01-01T00:00:00Z", "--count", "1", "--format", "{{.Timestamp.UnixMilli}} {{.Value}}").out; got != "4102444800000 {\"nested\":[1,2]}\n" {
		t.Fatalf("by time: %q", got)
	}

	bad := "{\"value\":\"ok\"}\n{not json\n{\"value\":\"after\"}\n{\"valeu\":\"typo\"}\n"
	stderr := fails(t, addr, bad, "line 2: invalid JSON record", "produce", "j", "--json")
	if !strings.Contains(stderr, "produced 1 record (") {
		t.Fatalf("stop: want the record before line 2 produced, stderr:\n%s", stderr)
	}
	r := ok(t, addr, bad, "produce", "j", "--json", "--on-error", "skip")
	golden(t, "produce_skip", normalize(r.errOut, addr))
}

func TestProduceConsumeErrors(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "t", "-p", "1")
	for _, tc := range []struct {
		name string
		args []string
		exp  string
	}{
		{"produce unknown topic", []string{"produce", "nope", "--value", "x"}, `unknown topic "nope"`},
		{"consume unknown topic", []string{"consume", "nope"}, `unknown topic "nope"`},
		{"bad from", []string{"consume", "t", "--from", "yesterday"}, `invalid --from "yesterday"`},
		{"bad from time", []string{"consume", "t", "--from", "@2024-13-45"}, `invalid time "2024-13-45"`},
		{"bad count", []string{"consume", "t", "--count", "-1"}, "invalid --count -1"},
		{"bad template", []string{"consume", "t", "--format", "{{.Nope}}"}, "invalid --format template"},
		{"bad header", []string{"produce", "t", "--value", "x", "--header", "nokey"}, `invalid --header "nokey"`},
		{"bad compression", []string{"produce", "t", "--value", "x", "--compression", "brotli"}, `unknown --compression "brotli"`},
		{"partition out of range", []string{"produce", "t", "--value", "x", "--partition", "7"}, "invalid --partition 7: topic t has partitions 0 to 0"},
		{"json partition out of range", []string{"produce", "t", "--json"}, `line 1: "partition" 3: topic t has partitions 0 to 0`},
		{"consume partition out of range", []string{"consume", "t", "-p", "4"}, "invalid --partition 4: topic t has partitions 0 to 0"},
		{"consume partition and group", []string{"consume", "t", "-p", "0", "-g", "g"}, "--partition and --group do not mix"},
		{"bad on-error", []string{"produce", "t", "--json", "--on-error", "ignore"}, `invalid --on-error "ignore"`},
	} {
		in := ""
		if tc.name == "json partition out of range" {
			in = `{"value":"x","partition":3}` + "\n"
		}
		t.Run(tc.name, func(t *testing.T) { fails(t, addr, in, tc.exp, tc.args...) })
	}
}

// TestProduceConsumeFile writes 100k lines from a file and reads them
// back byte for byte.
func TestProduceConsumeFile(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "bulk", "-p", "1")
	var buf bytes.Buffer
	for i := range 100_000 {
		fmt.Fprintf(&buf, "line %06d %s\t{\"i\":%d}\r\n", i, strings.Repeat("x", i%37), i)
	}
	path := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out, errOut bytes.Buffer
	if code := Run(t.Context(), []string{"produce", "bulk", "--brokers", addr, "--compression", "lz4"}, f, &out, &errOut); code != 0 {
		t.Fatalf("produce: exit %d: %s", code, errOut.String())
	}
	got := ok(t, addr, "", "consume", "bulk", "--from", "beginning", "--count", "100000", "--format", "{{.Value}}").out
	if got != buf.String() {
		t.Fatalf("consumed %d bytes, produced %d: not identical", len(got), buf.Len())
	}
}

// TestPartitions checks produce --json's "partition" field without
// --partition, consume --partition, and the counts' singular.
func TestPartitions(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "p3", "-p", "3")
	in := `{"value":"two","partition":2}
{"value":"one","partition":1}
{"key":"k","value":"keyed"}
{"value":"two-again","partition":2}
`
	if r := ok(t, addr, in, "produce", "p3", "--json"); !strings.Contains(r.errOut, "produced 4 records") {
		t.Fatalf("produce --json with partitions: %s", r.errOut)
	}
	// The keyed record goes where its key hashes; the others where named.
	if got := strings.ReplaceAll(ok(t, addr, "", "consume", "p3", "-p", "2").out, "keyed\n", ""); got != "two\ntwo-again\n" {
		t.Fatalf("consume -p 2: %q", got)
	}
	if got := ok(t, addr, "", "consume", "p3").out; strings.Count(got, "\n") != 4 || !strings.Contains(got, "keyed\n") {
		t.Fatalf("consume all: %q", got)
	}
	if got := strings.ReplaceAll(ok(t, addr, "", "consume", "p3", "--partition", "1").out, "keyed\n", ""); got != "one\n" {
		t.Fatalf("consume --partition 1: %q", got)
	}
	if got := ok(t, addr, "", "consume", "p3", "-p", "1,2", "--format", "{{.Partition}}:{{.Value}}").out; !strings.Contains(got, "1:one\n") || !strings.Contains(got, "2:two\n") || strings.Contains(got, "0:") {
		t.Fatalf("consume -p 1,2: %q", got)
	}
	// --partition still wins over the key, and a line's field over the flag.
	ok(t, addr, `{"value":"flag"}`+"\n"+`{"value":"field","partition":1}`+"\n", "produce", "p3", "--json", "--partition", "0")
	if got := ok(t, addr, "", "consume", "p3", "-p", "0").out; !strings.HasSuffix(got, "flag\n") || strings.Contains(got, "field") {
		t.Fatalf("consume -p 0 after --partition 0: %q", got)
	}
	if r := ok(t, addr, "", "produce", "p3", "--value", "x", "-p", "0"); !strings.Contains(r.errOut, "produced 1 record (") {
		t.Fatalf("singular: %q", r.errOut)
	}
	if r := ok(t, addr, "", "consume", "p3", "-p", "1", "--count", "1"); !strings.HasSuffix(r.errOut, "consumed 1 record\n") {
		t.Fatalf("singular: %q", r.errOut)
	}
}

// TestProduceLargeRecord checks that produce follows the topic's
// max.message.bytes (or --max-message-bytes) and says which side refused
// a record too large.
func TestProduceLargeRecord(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "big", "-p", "1", "--config", "max.message.bytes=3000000")
	ok(t, addr, "", "topic", "create", "small", "-p", "1")
	value := strings.Repeat("v", 2<<20)
	ok(t, addr, "", "produce", "big", "--value", value)
	if got := ok(t, addr, "", "consume", "big", "--format", "{{len .Value}}").out; got != "2097152\n" {
		t.Fatalf("consume big: %q", got)
	}
	fails(t, addr, "", "larger than the client's limit of 1048588 bytes, the topic's max.message.bytes", "produce", "small", "--value", value)
	fails(t, addr, "", "the broker refused a record of 2097152 bytes as too large", "produce", "small", "--value", value, "--max-message-bytes", "3000000")
}

// TestProduceInterrupt cancels produce (Ctrl-C) while its input, a pipe,
// is still open: it stops at once, sends what it read, prints the summary
// and exits 0, as consume does.
func TestProduceInterrupt(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "ctrlc", "-p", "1")
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"produce", "ctrlc", "--brokers", addr}, pr, &out, &errOut)
	}()
	if _, err := io.WriteString(pw, "a\nb\nc\n"); err != nil {
		t.Fatal(err)
	}
	// Wait until the three lines are acknowledged, then interrupt.
	deadline := time.Now().Add(20 * time.Second)
	for ok(t, addr, "", "consume", "ctrlc").out != "a\nb\nc\n" {
		if time.Now().After(deadline) {
			t.Fatal("the three lines never arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after Ctrl-C: %s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("produce did not stop after Ctrl-C while its input was open")
	}
	got := errOut.String()
	if !strings.Contains(got, "produced 3 records") || !strings.Contains(got, "interrupted") || strings.Contains(got, "context canceled") {
		t.Fatalf("summary after Ctrl-C: %q", got)
	}
}

// TestProgressHeartbeat checks what produce shows on a terminal while it
// reads a pipe (bytes and lines so far) and a file (a bar).
func TestProgressHeartbeat(t *testing.T) {
	var w bytes.Buffer
	p := &progressReader{r: strings.NewReader("one\ntwo\nthree\n"), w: &w}
	if _, err := io.ReadAll(p); err != nil {
		t.Fatal(err)
	}
	p.done()
	if got := w.String(); !strings.HasSuffix(got, "\rread 14 B, 3 lines\n") {
		t.Fatalf("pipe heartbeat: %q", got)
	}
	w.Reset()
	p = &progressReader{r: strings.NewReader("0123456789"), w: &w, size: 10}
	if _, err := io.ReadAll(p); err != nil {
		t.Fatal(err)
	}
	p.done()
	if got := w.String(); !strings.HasSuffix(got, "] 100% 10 B / 10 B\n") {
		t.Fatalf("file bar: %q", got)
	}
}

// TestConsumeJSONEncoding checks that consume --format json loses no
// byte: a record that is not UTF-8 is written in base64 and marked,
// --encoding hex or base64 writes every record so, and produce --json
// reads the output back into the same bytes.
func TestConsumeJSONEncoding(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "bin", "copy", "-p", "1")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := []*kgo.Record{
		{Topic: "bin", Key: []byte("text"), Value: []byte("héllo")},
		{Topic: "bin", Key: []byte{0xff, 0x00, 'k'}, Value: []byte{0x80, 'a', 'b'}, Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{0xfe}}}},
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	out := ok(t, addr, "", "consume", "bin", "--format", "json").out
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Contains(lines[0], `"encoding"`) || !strings.Contains(lines[0], `"value":"héllo"`) ||
		!strings.Contains(lines[1], `"encoding":"base64"`) || !strings.Contains(lines[1], `"key":"/wBr"`) || !strings.Contains(lines[1], `"value":"gGFi"`) ||
		!strings.Contains(lines[1], `{"key":"h","value":"/g=="}`) {
		t.Fatalf("consume --format json:\n%s", out)
	}
	hexOut := ok(t, addr, "", "consume", "bin", "--format", "json", "--encoding", "hex").out
	if !strings.Contains(hexOut, `"encoding":"hex","key":"74657874","value":"68c3a96c6c6f"`) || !strings.Contains(hexOut, `"key":"ff006b","value":"806162"`) {
		t.Fatalf("--encoding hex:\n%s", hexOut)
	}
	fails(t, addr, "", "--encoding applies to --format json", "consume", "bin", "--encoding", "hex")
	fails(t, addr, "", `unknown --encoding "b64"`, "consume", "bin", "--format", "json", "--encoding", "b64")

	// The output, produced again, gives the same bytes.
	ok(t, addr, out, "produce", "copy", "--json")
	cl.AddConsumeTopics("copy")
	var got []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(got) < 2 && ctx.Err() == nil {
		got = append(got, cl.PollFetches(ctx).Records()...)
	}
	if len(got) != 2 {
		t.Fatalf("read back %d records", len(got))
	}
	for i, r := range got {
		if !bytes.Equal(r.Key, recs[i].Key) || !bytes.Equal(r.Value, recs[i].Value) || len(r.Headers) != len(recs[i].Headers) {
			t.Fatalf("record %d: key %q value %q headers %v, want %q %q %v", i, r.Key, r.Value, r.Headers, recs[i].Key, recs[i].Value, recs[i].Headers)
		}
		for j, h := range r.Headers {
			if h.Key != recs[i].Headers[j].Key || !bytes.Equal(h.Value, recs[i].Headers[j].Value) {
				t.Fatalf("record %d header %d: %q=%q", i, j, h.Key, h.Value)
			}
		}
	}
}

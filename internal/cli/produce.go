package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceFlags are `herald produce`'s settings.
type produceFlags struct {
	key         string
	value       string
	headers     []string
	partition   int32
	compression string
	json        bool
	onError     string
	maxBytes    int32 // --max-message-bytes; 0: the topic's max.message.bytes
}

func newProduceCmd() *cobra.Command {
	c := &conn{}
	f := &produceFlags{}
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Write records to a topic from stdin, one per line, or from --value",
		Long: `Write records to a topic. Each line of stdin is one record's value, or
with --json a JSON object:

  {"key": "k1", "value": "v1", "headers": {"h": "x"}, "partition": 0,
   "timestamp": "2024-05-01T12:00:00Z"}

where every field is optional, key and value may also be any JSON value
(written compacted), headers may also be a list of {"key","value"}
objects, and timestamp may also be unix milliseconds. With "encoding":
"base64" or "hex", key, value and header values are strings in that
encoding. A line with "partition" goes to that partition. The lines that
` + "`herald consume --format json`" + ` writes are valid input (topic and offset
are ignored), so binary records survive the round trip. A malformed line is
reported with its line number; --on-error stop (the default) stops there
and exits non-zero, --on-error skip reports it and goes on.

A summary (records, bytes, rate) goes to stderr at the end, and a progress
bar while reading a file.`,
		Example: `  herald produce orders --value '{"id":1}' --key order-1
  herald produce orders < orders.txt
  herald produce orders --json --on-error skip < orders.jsonl
  herald produce orders --header source=cli --compression zstd < orders.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProduce(cmd, c, f, args[0])
		},
	}
	addConnFlags(cmd, c, false)
	fl := cmd.Flags()
	fl.StringVarP(&f.key, "key", "k", "", "key of every record (a --json line's key wins)")
	fl.StringVar(&f.value, "value", "", "produce one record with this value instead of reading stdin")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "header key=value on every record (repeatable)")
	fl.Int32VarP(&f.partition, "partition", "p", -1, "partition to write to (-1: by key, or spread when no key)")
	fl.StringVar(&f.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	fl.BoolVar(&f.json, "json", false, "each input line is a JSON object with key, value, headers, partition, timestamp")
	fl.StringVar(&f.onError, "on-error", "stop", "on a malformed --json line: stop or skip")
	fl.Int32Var(&f.maxBytes, "max-message-bytes", 0, "largest record batch to send (default: the topic's max.message.bytes)")
	return cmd
}

func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("unknown --compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// validate checks the flags before anything is sent.
func (f *produceFlags) validate() (kgo.CompressionCodec, []kgo.RecordHeader, error) {
	if f.onError != "stop" && f.onError != "skip" {
		return kgo.CompressionCodec{}, nil, fmt.Errorf("invalid --on-error %q: want stop or skip", f.onError)
	}
	codec, err := compressionCodec(f.compression)
	if err != nil {
		return codec, nil, err
	}
	var hs []kgo.RecordHeader
	for _, h := range f.headers {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return codec, nil, fmt.Errorf("invalid --header %q: want key=value", h)
		}
		hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return codec, hs, nil
}

func runProduce(cmd *cobra.Command, c *conn, f *produceFlags, topic string) error {
	codec, headers, err := f.validate()
	if err != nil {
		return err
	}
	ti, err := c.topicLimits(cmd, topic)
	if err != nil {
		return err
	}
	if f.partition >= ti.partitions {
		return fmt.Errorf("invalid --partition %d: %s", f.partition, ti.partitionRange(topic))
	}
	maxBytes, limitFrom := ti.maxMessageBytes, "the topic's max.message.bytes"
	if f.maxBytes > 0 {
		maxBytes, limitFrom = f.maxBytes, "--max-message-bytes"
	}
	cl, err := c.client(cmd,
		kgo.ProducerBatchCompression(codec),
		kgo.RecordPartitioner(recordPartitioner{kgo.UniformBytesPartitioner(64<<10, true, true, nil)}),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(maxBytes),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	p := &producer{cl: cl, topic: topic, f: f, headers: headers, start: time.Now(),
		partitions: ti.partitions, maxBytes: maxBytes, limitFrom: limitFrom}
	// Ctrl-C (the command's context) stops reading input; what was read
	// is still sent and acknowledged, and the summary says so.
	sendCtx := context.WithoutCancel(cmd.Context())
	if cmd.Flags().Changed("value") {
		p.send(sendCtx, p.record([]byte(f.value)))
	} else if err := p.readLines(cmd, sendCtx, cmd.InOrStdin()); errors.Is(err, errInterrupted) {
		p.interrupted = true
	} else if err != nil {
		p.flush(sendCtx)
		p.summary(cmd.ErrOrStderr())
		return err
	}
	p.flush(sendCtx)
	p.summary(cmd.ErrOrStderr())
	if err := p.firstErr(); err != nil {
		return fmt.Errorf("produce to %s: %s failed, first error: %w", topic, plural(p.failed, "record"), err)
	}
	return nil
}

// producer sends records asynchronously and counts the outcomes.
type producer struct {
	cl      *kgo.Client
	topic   string
	f       *produceFlags
	headers []kgo.RecordHeader
	start   time.Time
	skipped int

	interrupted bool // Ctrl-C stopped the input

	partitions int32  // the topic's partition count
	maxBytes   int32  // the largest batch the client sends
	limitFrom  string // where maxBytes comes from, for errors

	mu     sync.Mutex
	ok     int
	bytes  int64
	failed int
	err    error // the first produce error
}

func (p *producer) record(value []byte) *kgo.Record {
	r := &kgo.Record{Topic: p.topic, Value: value, Headers: append([]kgo.RecordHeader(nil), p.headers...), Partition: p.f.partition}
	if p.f.key != "" {
		r.Key = []byte(p.f.key)
	}
	return r
}

func (p *producer) send(ctx context.Context, r *kgo.Record) {
	if size := recordBatchSize(r); size > int(p.maxBytes) {
		p.fail(fmt.Errorf("a record of %d bytes (in a batch of its own) is larger than the client's limit of %d bytes, %s; "+
			"raise it with `herald topic alter-config %s --set max.message.bytes=N` or --max-message-bytes (not sent)",
			len(r.Key)+len(r.Value), p.maxBytes, p.limitFrom, p.topic))
		return
	}
	p.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		if errors.Is(err, kerr.MessageTooLarge) {
			err = fmt.Errorf("the broker refused a record of %d bytes as too large (its message.max.bytes or the topic's max.message.bytes): %w",
				len(r.Key)+len(r.Value), err)
		}
		if err != nil {
			p.fail(err)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.ok++
		p.bytes += int64(len(r.Key) + len(r.Value))
	})
}

// fail counts a record that was not written.
func (p *producer) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed++
	if p.err == nil {
		p.err = err
	}
}

// recordBatchSize bounds the size of a batch holding r alone: the batch
// header (61 bytes), the record's own framing (at most 5 varints and
// attributes, 26 bytes) and its key, value and headers with their length
// varints.
func recordBatchSize(r *kgo.Record) int {
	n := 61 + 26 + len(r.Key) + len(r.Value) + 10
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value) + 10
	}
	return n
}

// flushTimeout bounds how long produce waits for acknowledgements at the
// end, also after Ctrl-C.
const flushTimeout = 30 * time.Second

func (p *producer) flush(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	if err := p.cl.Flush(ctx); err != nil {
		p.mu.Lock()
		if p.err == nil {
			p.err = err
		}
		p.mu.Unlock()
	}
}

func (p *producer) firstErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// errInterrupted is readLines' answer when the command's context ended
// (Ctrl-C) before the input did.
var errInterrupted = errors.New("interrupted")

// inputLine is one line read from the input, or the error that ended it.
type inputLine struct {
	b   []byte
	err error
}

// readLines produces one record per input line, sending with sendCtx. A
// line is everything up to '\n' (which is not part of the value), so
// `herald consume` printing each value and a newline gives the input back
// byte for byte. Lines are read in a goroutine so that Ctrl-C stops at
// once even while the input (a pipe, a terminal) has nothing to read.
func (p *producer) readLines(cmd *cobra.Command, sendCtx context.Context, in io.Reader) error {
	ctx := cmd.Context()
	in = maybeProgress(in, cmd.ErrOrStderr())
	if pr, ok := in.(*progressReader); ok {
		defer pr.done()
	}
	lines := make(chan inputLine, 256)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		br := bufio.NewReaderSize(in, 1<<20)
		for {
			line, err := br.ReadBytes('\n')
			select {
			case lines <- inputLine{line, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for n := 1; ; n++ {
		var l inputLine
		select {
		case l = <-lines:
		case <-ctx.Done():
			return errInterrupted
		}
		if len(l.b) > 0 {
			line := bytes.TrimSuffix(l.b, []byte{'\n'})
			if perr := p.line(sendCtx, n, line); perr != nil {
				if p.f.onError == "stop" {
					return fmt.Errorf("%w (stopped; --on-error skip goes on past bad lines)", perr)
				}
				p.skipped++
				fmt.Fprintf(cmd.ErrOrStderr(), "herald: skipped %v\n", perr)
			}
		}
		if errors.Is(l.err, io.EOF) {
			return nil
		}
		if l.err != nil {
			return fmt.Errorf("read input line %d: %w", n, l.err)
		}
	}
}

func (p *producer) line(ctx context.Context, n int, line []byte) error {
	if !p.f.json {
		// ReadBytes returns a new slice each time, so the record may keep it.
		p.send(ctx, p.record(line))
		return nil
	}
	r, err := p.parseJSON(line)
	if err != nil {
		return fmt.Errorf("line %d: %w", n, err)
	}
	p.send(ctx, r)
	return nil
}

// jsonRecord is one --json input line.
type jsonRecord struct {
	Key       json.RawMessage `json:"key"`
	Value     json.RawMessage `json:"value"`
	Headers   json.RawMessage `json:"headers"`
	Partition *int32          `json:"partition"`
	Timestamp json.RawMessage `json:"timestamp"`
	// Encoding, "base64" or "hex", says key, value and header values are
	// strings in that encoding, as consume --format json writes them.
	Encoding string `json:"encoding"`
	// Topic and offset, as consume --format json writes them, are
	// accepted and ignored, so its output can be produced again.
	Topic  json.RawMessage `json:"topic"`
	Offset json.RawMessage `json:"offset"`
}

func (p *producer) parseJSON(line []byte) (*kgo.Record, error) {
	var jr jsonRecord
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&jr); err != nil {
		return nil, fmt.Errorf("invalid JSON record: %w", err)
	}
	if dec.More() {
		return nil, errors.New("invalid JSON record: more than one value on the line")
	}
	enc := jr.Encoding
	if enc == "" {
		enc = encUTF8
	}
	if err := checkEncoding(enc); err != nil {
		return nil, fmt.Errorf(`"encoding" %q: want base64 or hex`, jr.Encoding)
	}
	r := p.record(nil)
	var err error
	if jr.Key != nil {
		if r.Key, err = jsonBytes(jr.Key, enc); err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
	}
	if r.Value, err = jsonBytes(jr.Value, enc); err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	hs, err := jsonHeaders(jr.Headers)
	if err != nil {
		return nil, err
	}
	for i := range hs {
		if hs[i].Value, err = decodeBytes(enc, string(hs[i].Value)); err != nil {
			return nil, fmt.Errorf("header %q: %s: %w", hs[i].Key, enc, err)
		}
	}
	r.Headers = append(r.Headers, hs...)
	if jr.Partition != nil {
		if *jr.Partition < 0 || *jr.Partition >= p.partitions {
			return nil, fmt.Errorf(`"partition" %d: %s`, *jr.Partition, topicInfo{partitions: p.partitions}.partitionRange(p.topic))
		}
		r.Partition = *jr.Partition
	}
	if jr.Timestamp != nil {
		if r.Timestamp, err = jsonTime(jr.Timestamp); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// jsonBytes is a JSON string's text (decoded from base64 or hex when enc
// says so), nil for null or absent, or any other JSON value compacted.
func jsonBytes(raw json.RawMessage, enc string) ([]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		if enc != encUTF8 {
			b, err := decodeBytes(enc, s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", enc, err)
			}
			return b, nil
		}
		return []byte(s), nil
	}
	if enc != encUTF8 {
		return nil, fmt.Errorf("with \"encoding\": %q, want a string", enc)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// jsonHeaders accepts {"k": "v", ...} (written in key order) or
// [{"key": "k", "value": "v"}, ...] (written in the given order).
func jsonHeaders(raw json.RawMessage) ([]kgo.RecordHeader, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '[' {
		var list []recordHeader
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("headers: %w", err)
		}
		hs := make([]kgo.RecordHeader, len(list))
		for i, h := range list {
			hs[i] = kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)}
		}
		return hs, nil
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf(`headers: want {"key": "value"} or [{"key": ..., "value": ...}]: %w`, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	hs := make([]kgo.RecordHeader, len(keys))
	for i, k := range keys {
		hs[i] = kgo.RecordHeader{Key: k, Value: []byte(m[k])}
	}
	return hs, nil
}

func jsonTime(raw json.RawMessage) (time.Time, error) {
	var ms int64
	if err := json.Unmarshal(raw, &ms); err == nil {
		return time.UnixMilli(ms), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, errors.New("timestamp: want an RFC 3339 string or unix milliseconds")
	}
	t, err := parseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp: %w", err)
	}
	return t, nil
}

func (p *producer) summary(w io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el := time.Since(p.start)
	rate := float64(p.ok) / max(el.Seconds(), 1e-9)
	fmt.Fprintf(w, "produced %s (%s) to %s in %s (%s records/s)",
		plural(p.ok, "record"), humanBytes(p.bytes), p.topic, el.Round(time.Millisecond), strconv.FormatFloat(rate, 'f', 0, 64))
	if p.failed > 0 {
		fmt.Fprintf(w, ", %d failed", p.failed)
	}
	if p.skipped > 0 {
		fmt.Fprintf(w, ", %s skipped", plural(p.skipped, "malformed line"))
	}
	if p.interrupted {
		fmt.Fprint(w, "; interrupted, the rest of the input was not read")
	}
	fmt.Fprintln(w)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// recordPartitioner sends a record that names its partition (--partition
// or a --json line's "partition") there, and every other record as the
// wrapped partitioner does (by key hash, or in sticky batches).
type recordPartitioner struct{ inner kgo.Partitioner }

func (p recordPartitioner) ForTopic(t string) kgo.TopicPartitioner {
	return &topicPartitioner{inner: p.inner.ForTopic(t)}
}

type topicPartitioner struct{ inner kgo.TopicPartitioner }

func (p *topicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition >= 0 || p.inner.RequiresConsistency(r)
}

func (p *topicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Partition >= 0 {
		return int(r.Partition)
	}
	return p.inner.Partition(r, n)
}

// PartitionByBackup is how kgo asks a load-aware partitioner (such as
// UniformBytesPartitioner, which panics on Partition) for a partition.
func (p *topicPartitioner) PartitionByBackup(r *kgo.Record, n int, it kgo.TopicBackupIter) int {
	if r.Partition >= 0 {
		return int(r.Partition)
	}
	if bp, ok := p.inner.(kgo.TopicBackupPartitioner); ok {
		return bp.PartitionByBackup(r, n, it)
	}
	return p.inner.Partition(r, n)
}

// OnNewBatch lets the wrapped partitioner move its sticky partition.
func (p *topicPartitioner) OnNewBatch() {
	if nb, ok := p.inner.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}

// progressReader draws, on a terminal, a progress bar while a regular
// file is read, or a heartbeat (bytes read so far) while a pipe is. Read
// runs in readLines' reading goroutine, done in the command's: mu guards
// the counters.
type progressReader struct {
	r    io.Reader
	w    io.Writer
	size int64 // 0: unknown (a pipe), draw a heartbeat

	mu    sync.Mutex
	read  int64
	lines int64
	last  time.Time
}

// maybeProgress wraps in with a progress display when errOut is a
// terminal and in is a file or a pipe (not a terminal: someone typing
// needs no progress); otherwise it returns in unchanged.
func maybeProgress(in io.Reader, errOut io.Writer) io.Reader {
	f, ok := in.(*os.File)
	ef, eok := errOut.(*os.File)
	if !ok || !eok {
		return in
	}
	st, err := f.Stat()
	est, eerr := ef.Stat()
	if err != nil || eerr != nil || est.Mode()&os.ModeCharDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
		return in
	}
	size := int64(0)
	if st.Mode().IsRegular() {
		if size = st.Size(); size == 0 {
			return in
		}
	}
	return &progressReader{r: f, w: ef, size: size}
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.read += int64(n)
	p.lines += int64(bytes.Count(b[:n], []byte{'\n'}))
	if now := time.Now(); now.Sub(p.last) > 200*time.Millisecond {
		p.last = now
		p.drawLocked()
	}
	return n, err
}

// drawLocked draws the bar or the heartbeat. p.mu must be held.
func (p *progressReader) drawLocked() {
	if p.size == 0 {
		fmt.Fprintf(p.w, "\rread %s, %s", humanBytes(p.read), plural(int(p.lines), "line"))
		return
	}
	const width = 30
	frac := min(float64(p.read)/float64(p.size), 1)
	done := int(frac * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %s / %s", strings.Repeat("=", done), strings.Repeat(" ", width-done),
		frac*100, humanBytes(p.read), humanBytes(p.size))
}

func (p *progressReader) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drawLocked()
	fmt.Fprintln(p.w)
}

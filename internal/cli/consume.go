package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeFlags are `herald consume`'s settings.
type consumeFlags struct {
	from         string
	follow       bool
	group        string
	count        int
	format       string
	printHeaders bool
	partitions   []int32
	encoding     string
}

func newConsumeCmd() *cobra.Command {
	c := &conn{}
	f := &consumeFlags{}
	cmd := &cobra.Command{
		Use:   "consume TOPIC...",
		Short: "Read records from topics and print them",
		Long: `Read records and print them, by default each value on its own line, so
that records written with ` + "`herald produce T < file`" + ` come back as the file.

Without --follow, consume stops at the end of each partition as it was at
the start (or after 3s without records short of it: the rest are
transaction markers or aborted records). With --group, it reads as a member of the consumer group: from
the group's committed offsets (--from applies where the group has none),
and it commits what it printed when it exits.

--from is one of: beginning, end, an offset (e.g. 42), -N (the last N
records of each partition), or @TIME where TIME is RFC 3339
(2024-05-01T12:00:00Z), a date (2024-05-01) or unix milliseconds.

--format is text (the value), json (one JSON object per line), or a Go
template over the record: {{.Topic}} {{.Partition}} {{.Offset}} {{.Key}}
{{.Value}} {{.Timestamp}} {{.Headers}}; \n and \t are unescaped and a
newline ends each record unless the format ends with one.

Ctrl-C stops cleanly and prints a summary to stderr.`,
		Example: `  herald consume orders
  herald consume orders --from -10
  herald consume orders --from @2024-05-01T12:00:00Z --count 100 --format json
  herald consume orders payments --group audit --follow
  herald consume orders --format '{{.Partition}}/{{.Offset}} {{.Key}}={{.Value}}'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			return runConsume(cmd, c, f, topics)
		},
	}
	addConnFlags(cmd, c, false)
	fl := cmd.Flags()
	fl.StringVar(&f.from, "from", "beginning", "where to start: beginning, end, OFFSET, -N or @TIME")
	fl.BoolVarP(&f.follow, "follow", "f", false, "keep waiting for new records until Ctrl-C")
	fl.StringVarP(&f.group, "group", "g", "", "consume as a member of this consumer group and commit offsets")
	fl.Int32SliceVarP(&f.partitions, "partition", "p", nil, "read only these partitions (comma separated or repeated; not with --group)")
	fl.IntVarP(&f.count, "count", "n", 0, "stop after this many records (0: no limit)")
	fl.StringVar(&f.format, "format", "text", "text, json, or a Go template such as '{{.Key}}={{.Value}}'")
	fl.BoolVar(&f.printHeaders, "print-headers", false, "with the text format, print headers (k=v,...) and a tab before the value")
	fl.StringVar(&f.encoding, "encoding", encUTF8, `with --format json, how keys, values and header values are written: utf8 (records that are not valid UTF-8 are written in base64), base64 or hex; the object's "encoding" field says which`)
	return cmd
}

// startSpec is a parsed --from.
type startSpec struct {
	kind   string // "start", "end", "offset", "last", "time"
	offset int64  // for "offset" and "last" (N)
	milli  int64  // for "time"
}

func parseFrom(s string) (startSpec, error) {
	switch strings.ToLower(s) {
	case "beginning", "start", "oldest", "earliest":
		return startSpec{kind: "start"}, nil
	case "end", "newest", "latest":
		return startSpec{kind: "end"}, nil
	}
	bad := fmt.Errorf("invalid --from %q: want beginning, end, an offset, -N (the last N records) or @TIME", s)
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		t, err := parseTime(rest)
		if err != nil {
			return startSpec{}, fmt.Errorf("invalid --from %q: %w", s, err)
		}
		return startSpec{kind: "time", milli: t.UnixMilli()}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		return startSpec{}, bad
	case strings.HasPrefix(s, "-"):
		return startSpec{kind: "last", offset: -n}, nil
	default:
		return startSpec{kind: "offset", offset: n}, nil
	}
}

// kgoOffset is the spec as a kgo reset offset, for group consumption.
func (s startSpec) kgoOffset() kgo.Offset {
	switch s.kind {
	case "end":
		return kgo.NewOffset().AtEnd()
	case "offset":
		return kgo.NewOffset().At(s.offset)
	case "last":
		return kgo.NewOffset().AtEnd().Relative(-s.offset)
	case "time":
		return kgo.NewOffset().AfterMilli(s.milli)
	}
	return kgo.NewOffset().AtStart()
}

// resolve turns the spec into an offset per partition of topics, clamped
// to [log start, end].
func (s startSpec) resolve(ctx context.Context, adm *kadm.Client, starts, ends kadm.ListedOffsets, topics []string) (map[string]map[int32]int64, error) {
	var after kadm.ListedOffsets
	if s.kind == "time" {
		var err error
		if after, err = adm.ListOffsetsAfterMilli(ctx, s.milli, topics...); err != nil {
			return nil, fmt.Errorf("list offsets by time: %w", err)
		}
	}
	out := map[string]map[int32]int64{}
	var err error
	ends.Each(func(e kadm.ListedOffset) {
		if e.Err != nil {
			err = errors.Join(err, fmt.Errorf("end offset of %s/%d: %w", e.Topic, e.Partition, e.Err))
			return
		}
		st, _ := starts.Lookup(e.Topic, e.Partition)
		var at int64
		switch s.kind {
		case "start":
			at = st.Offset
		case "end":
			at = e.Offset
		case "offset":
			at = s.offset
		case "last":
			at = e.Offset - s.offset
		case "time":
			at = e.Offset
			if a, ok := after.Lookup(e.Topic, e.Partition); ok && a.Err == nil && a.Offset >= 0 {
				at = a.Offset
			}
		}
		if out[e.Topic] == nil {
			out[e.Topic] = map[int32]int64{}
		}
		out[e.Topic][e.Partition] = min(max(at, st.Offset), e.Offset)
	})
	return out, err
}

func runConsume(cmd *cobra.Command, c *conn, f *consumeFlags, topics []string) error {
	spec, err := parseFrom(f.from)
	if err != nil {
		return err
	}
	if f.count < 0 {
		return fmt.Errorf("invalid --count %d: want 0 (no limit) or more", f.count)
	}
	if len(f.partitions) > 0 && f.group != "" {
		return errors.New("--partition and --group do not mix: a group assigns partitions to its members")
	}
	pr, err := newRecordPrinter(f.format, f.printHeaders, f.encoding)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	meta, err := c.client(cmd)
	if err != nil {
		return err
	}
	defer meta.Close()
	adm := kadm.NewClient(meta)
	if err := checkTopics(ctx, adm, topics...); err != nil {
		return err
	}
	starts, ends, err := listBounds(ctx, adm, topics)
	if err != nil {
		return err
	}
	from, err := spec.resolve(ctx, adm, starts, ends, topics)
	if err != nil {
		return err
	}
	if len(f.partitions) > 0 {
		if from, err = onlyPartitions(from, f.partitions); err != nil {
			return err
		}
	}
	if f.group != "" {
		if from, err = groupPositions(ctx, adm, f.group, from); err != nil {
			return err
		}
	}
	s := &consumeSession{f: f, pr: pr, out: bufio.NewWriterSize(cmd.OutOrStdout(), 256<<10), left: map[string]map[int32]int64{}}
	if !f.follow {
		s.trackEnds(from, ends)
		if s.finished() {
			return s.finish(cmd, nil)
		}
	}
	opts := []kgo.Opt{kgo.FetchMaxWait(500 * time.Millisecond)}
	if f.group != "" {
		opts = append(opts, kgo.ConsumerGroup(f.group), kgo.ConsumeTopics(topics...),
			kgo.ConsumeResetOffset(spec.kgoOffset()), kgo.AutoCommitMarks(),
			kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { s.progress() }))
	} else {
		opts = append(opts, kgo.ConsumePartitions(atOffsets(from)))
		s.progress()
	}
	cl, err := c.client(cmd, opts...)
	if err != nil {
		return err
	}
	s.cl = cl
	err = s.loop(ctx)
	return s.finish(cmd, err)
}

// listBounds lists the log start and end offsets of topics.
func listBounds(ctx context.Context, adm *kadm.Client, topics []string) (starts, ends kadm.ListedOffsets, err error) {
	if starts, err = adm.ListStartOffsets(ctx, topics...); err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list start offsets: %w", err)
	}
	if ends, err = adm.ListEndOffsets(ctx, topics...); err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list end offsets: %w", err)
	}
	return starts, ends, nil
}

// groupPositions replaces from's offsets with the group's committed
// offsets where it has them: where a group member will start.
func groupPositions(ctx context.Context, adm *kadm.Client, group string, from map[string]map[int32]int64) (map[string]map[int32]int64, error) {
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, fmt.Errorf("offsets of group %s: %w", group, err)
	}
	for t, ps := range from {
		for p := range ps {
			if o, ok := committed.Lookup(t, p); ok && o.Err == nil && o.At >= 0 {
				ps[p] = o.At
			}
		}
	}
	return from, nil
}

// onlyPartitions keeps the given partitions of every topic in from; each
// must exist in every topic.
func onlyPartitions(from map[string]map[int32]int64, parts []int32) (map[string]map[int32]int64, error) {
	out := make(map[string]map[int32]int64, len(from))
	for t, ps := range from {
		out[t] = map[int32]int64{}
		for _, p := range parts {
			o, ok := ps[p]
			if !ok {
				return nil, fmt.Errorf("invalid --partition %d: topic %s has partitions 0 to %d", p, t, len(ps)-1)
			}
			out[t][p] = o
		}
	}
	return out, nil
}

func atOffsets(from map[string]map[int32]int64) map[string]map[int32]kgo.Offset {
	out := make(map[string]map[int32]kgo.Offset, len(from))
	for t, ps := range from {
		out[t] = make(map[int32]kgo.Offset, len(ps))
		for p, o := range ps {
			out[t][p] = kgo.NewOffset().At(o)
		}
	}
	return out
}

// consumeSession is one run of `herald consume`.
type consumeSession struct {
	f   *consumeFlags
	pr  *recordPrinter
	out *bufio.Writer
	cl  *kgo.Client // nil if there was nothing to read

	// left holds, without --follow, the end offset still to reach of
	// each partition not yet read to its end; empty means done.
	left map[string]map[int32]int64
	n    int // records printed

	// lastProgress is when a record last arrived or partitions were
	// assigned, in unix nanoseconds; 0 until then. Written by the
	// group's assignment callback too, hence atomic.
	lastProgress atomic.Int64
}

// idleEnd is how long consume without --follow waits for more records
// before it takes the partitions it has not seen reach their end offsets
// as read. The records between its position and the end offset it took
// at the start are then all ones the client does not return: transaction
// markers and aborted records (kgo reports no position past them).
const idleEnd = 3 * time.Second

// idleStart replaces idleEnd until the first record arrives: on a busy
// machine the first fetch of a large backlog can take longer than
// idleEnd, and giving up then would print nothing from a partition that
// has records.
const idleStart = 15 * time.Second

func (s *consumeSession) progress() { s.lastProgress.Store(time.Now().UnixNano()) }

// idle reports whether nothing has arrived for idleEnd (idleStart before
// the first record) since the partitions were assigned or the last record.
func (s *consumeSession) idle() bool {
	last := s.lastProgress.Load()
	wait := idleEnd
	if s.n == 0 {
		wait = idleStart
	}
	return last != 0 && time.Since(time.Unix(0, last)) >= wait
}

func (s *consumeSession) trackEnds(from map[string]map[int32]int64, ends kadm.ListedOffsets) {
	ends.Each(func(e kadm.ListedOffset) {
		if from[e.Topic][e.Partition] < e.Offset {
			if s.left[e.Topic] == nil {
				s.left[e.Topic] = map[int32]int64{}
			}
			s.left[e.Topic][e.Partition] = e.Offset
		}
	})
}

func (s *consumeSession) finished() bool {
	return (!s.f.follow && len(s.left) == 0) || (s.f.count > 0 && s.n >= s.f.count)
}

func (s *consumeSession) loop(ctx context.Context) error {
	for !s.finished() {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if !s.f.follow {
			pollCtx, cancel = context.WithTimeout(ctx, time.Second)
		}
		fs := s.cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return nil // Ctrl-C: a clean stop
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = errors.Join(ferr, fmt.Errorf("fetch %s/%d: %w", t, p, err))
			}
		})
		if ferr != nil {
			return ferr
		}
		var werr error
		fs.EachRecord(func(r *kgo.Record) {
			if werr != nil || (s.f.count > 0 && s.n >= s.f.count) {
				return
			}
			werr = s.print(r)
		})
		if werr != nil {
			return werr
		}
		if err := s.out.Flush(); err != nil {
			return err
		}
		if fs.NumRecords() > 0 {
			s.progress()
		} else if !s.f.follow && s.idle() {
			return nil
		}
	}
	return nil
}

func (s *consumeSession) print(r *kgo.Record) error {
	if err := s.pr.print(s.out, r); err != nil {
		return err
	}
	s.n++
	if s.f.group != "" {
		s.cl.MarkCommitRecords(r)
	}
	if ps := s.left[r.Topic]; ps != nil {
		if end, ok := ps[r.Partition]; ok && r.Offset+1 >= end {
			delete(ps, r.Partition)
			if len(ps) == 0 {
				delete(s.left, r.Topic)
			}
		}
	}
	return nil
}

// finish flushes the output, commits what was printed (with --group),
// leaves the group and prints the summary.
func (s *consumeSession) finish(cmd *cobra.Command, err error) error {
	if ferr := s.out.Flush(); err == nil {
		err = ferr
	}
	if s.cl != nil {
		if s.f.group != "" {
			// The command's context may be cancelled (Ctrl-C); the
			// commit still gets a few seconds.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if cerr := s.cl.CommitMarkedOffsets(ctx); cerr != nil && err == nil {
				err = fmt.Errorf("commit offsets of group %s: %w", s.f.group, cerr)
			}
			cancel()
		}
		s.cl.Close()
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "consumed %s\n", plural(s.n, "record"))
	return err
}

// recordView is what --format json writes of a record. Encoding is ""
// for text (UTF-8) keys, values and header values, else "base64" or
// "hex", which all three are written in; produce --json reads it back.
type recordView struct {
	Topic     string         `json:"topic"`
	Partition int32          `json:"partition"`
	Offset    int64          `json:"offset"`
	Timestamp time.Time      `json:"timestamp"`
	Encoding  string         `json:"encoding,omitempty"`
	Key       *string        `json:"key"`
	Value     *string        `json:"value"`
	Headers   []recordHeader `json:"headers"`
}

// The --encoding names.
const (
	encUTF8   = "utf8"
	encBase64 = "base64"
	encHex    = "hex"
)

func checkEncoding(enc string) error {
	switch enc {
	case encUTF8, encBase64, encHex:
		return nil
	}
	return fmt.Errorf("unknown --encoding %q: want utf8, base64 or hex", enc)
}

// encodeBytes is b in enc (base64 or hex), or as text.
func encodeBytes(enc string, b []byte) string {
	switch enc {
	case encBase64:
		return base64.StdEncoding.EncodeToString(b)
	case encHex:
		return hex.EncodeToString(b)
	}
	return string(b)
}

// decodeBytes is encodeBytes' inverse.
func decodeBytes(enc, s string) ([]byte, error) {
	switch enc {
	case encBase64:
		return base64.StdEncoding.DecodeString(s)
	case encHex:
		return hex.DecodeString(s)
	}
	return []byte(s), nil
}

// viewOf is r as JSON sees it. Under utf8, a record whose key, value or a
// header value is not valid UTF-8 is written in base64 instead, so that
// no byte is lost (JSON strings would turn it into U+FFFD).
func viewOf(r *kgo.Record, enc string) recordView {
	if enc == encUTF8 && !textRecord(r) {
		enc = encBase64
	}
	v := recordView{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UTC(), Headers: []recordHeader{}}
	if enc != encUTF8 {
		v.Encoding = enc
	}
	if r.Key != nil {
		k := encodeBytes(enc, r.Key)
		v.Key = &k
	}
	if r.Value != nil {
		val := encodeBytes(enc, r.Value)
		v.Value = &val
	}
	for _, h := range r.Headers {
		v.Headers = append(v.Headers, recordHeader{Key: h.Key, Value: encodeBytes(enc, h.Value)})
	}
	return v
}

func textRecord(r *kgo.Record) bool {
	if !utf8.Valid(r.Key) || !utf8.Valid(r.Value) {
		return false
	}
	for _, h := range r.Headers {
		if !utf8.Valid(h.Value) {
			return false
		}
	}
	return true
}

// templateView is recordView with plain strings, so that templates print
// "" rather than a pointer for a null key.
type templateView struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       string
	Value     string
	Headers   []recordHeader
}

// recordPrinter writes records in the --format.
type recordPrinter struct {
	mode     string // "text", "json" or "template"
	encoding string // json's --encoding
	headers  bool
	tmpl     *template.Template
	newline  bool // add '\n' after a template's output
}

func newRecordPrinter(format string, headers bool, encoding string) (*recordPrinter, error) {
	if err := checkEncoding(encoding); err != nil {
		return nil, err
	}
	switch format {
	case "text", "":
		if encoding != encUTF8 {
			return nil, errors.New("--encoding applies to --format json; text writes the bytes as they are")
		}
		return &recordPrinter{mode: "text", headers: headers}, nil
	case "json":
		return &recordPrinter{mode: "json", encoding: encoding}, nil
	}
	if encoding != encUTF8 {
		return nil, errors.New("--encoding applies to --format json; templates see the bytes as they are")
	}
	unescaped := strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\r`, "\r").Replace(format)
	t, err := template.New("format").Option("missingkey=error").Parse(unescaped)
	if err != nil {
		return nil, fmt.Errorf("invalid --format template: %w", err)
	}
	// Check fields now rather than at the first record.
	if err := t.Execute(io.Discard, templateView{}); err != nil {
		return nil, fmt.Errorf("invalid --format template: %w", err)
	}
	return &recordPrinter{mode: "template", tmpl: t, newline: !strings.HasSuffix(unescaped, "\n")}, nil
}

func (p *recordPrinter) print(w *bufio.Writer, r *kgo.Record) error {
	switch p.mode {
	case "json":
		b, err := json.Marshal(viewOf(r, p.encoding))
		if err != nil {
			return err
		}
		w.Write(b)
		return w.WriteByte('\n')
	case "template":
		v := templateView{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UTC(), Key: string(r.Key), Value: string(r.Value)}
		for _, h := range r.Headers {
			v.Headers = append(v.Headers, recordHeader{Key: h.Key, Value: string(h.Value)})
		}
		if err := p.tmpl.Execute(w, v); err != nil {
			return err
		}
		if p.newline {
			return w.WriteByte('\n')
		}
		return nil
	}
	if p.headers {
		for i, h := range r.Headers {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(h.Key)
			w.WriteByte('=')
			w.Write(h.Value)
		}
		w.WriteByte('\t')
	}
	w.Write(r.Value)
	return w.WriteByte('\n')
}

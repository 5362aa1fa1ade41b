package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Record is a record as the console's pages, its JSON API and its event
// stream show it.
type Record struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp"`
	Key       Value     `json:"key"`
	Value     Value     `json:"value"`
	Headers   []Header  `json:"headers,omitempty"`
}

// Header is a record header; CloudEvents attributes (ce_*) have CE set.
type Header struct {
	Name  string `json:"name"`
	Value Value  `json:"value"`
	CE    bool   `json:"-"`
}

// CloudEvent returns the CloudEvents attributes of r's headers (ce_id,
// ce_type, …) without the ce_ prefix, or nil.
func (r Record) CloudEvent() map[string]string {
	var out map[string]string
	for _, h := range r.Headers {
		if strings.HasPrefix(h.Name, "ce_") {
			if out == nil {
				out = map[string]string{}
			}
			out[strings.TrimPrefix(h.Name, "ce_")] = h.Value.Data
		}
	}
	return out
}

// toRecord converts a fetched record.
func (c *Console) toRecord(ctx context.Context, r *kgo.Record, full bool) Record {
	out := Record{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp,
		Key:   c.dec.decode(ctx, r.Key, r.Key == nil, full),
		Value: c.dec.decode(ctx, r.Value, r.Value == nil, full),
	}
	for _, h := range r.Headers {
		v := plainValue(h.Value)
		out.Headers = append(out.Headers, Header{Name: h.Key, Value: v, CE: strings.HasPrefix(h.Key, "ce_")})
	}
	return out
}

// plainValue shows header bytes as text or hex, never through the registry.
func plainValue(b []byte) Value {
	d := decoder{}
	return d.decode(context.Background(), b, b == nil, true)
}

// filter selects records; the zero filter takes everything.
type filter struct {
	Key         string         // substring of the key
	HeaderName  string         // a header of this name must be present
	HeaderValue string         // … with this value, when HasValue
	HasValue    bool           // header filter was name=value
	Text        string         // substring of the shown value
	Regex       *regexp.Regexp // matches the shown value
	Path        *pathFilter    // a JSONPath the value holds
	Raw         url.Values     // the query, to refill the form
}

func (f *filter) empty() bool {
	return f.Key == "" && f.HeaderName == "" && f.Text == "" && f.Regex == nil && f.Path == nil
}

// match reports whether rec passes f.
func (f *filter) match(rec Record) bool {
	if f.Key != "" && !strings.Contains(rec.Key.Data, f.Key) {
		return false
	}
	if f.HeaderName != "" && !f.matchHeader(rec.Headers) {
		return false
	}
	if f.Text != "" && !strings.Contains(rec.Value.Data, f.Text) {
		return false
	}
	if f.Path != nil && !f.Path.match(rec.Value) {
		return false
	}
	return f.Regex == nil || f.Regex.MatchString(rec.Value.Data)
}

func (f *filter) matchHeader(hs []Header) bool {
	for _, h := range hs {
		if h.Name == f.HeaderName && (!f.HasValue || h.Value.Data == f.HeaderValue) {
			return true
		}
	}
	return false
}

// query is where a browse starts and what it keeps.
type query struct {
	From      string // "end" (default), "beginning", "offset", "time"
	Partition int32  // -1: every partition
	Offset    int64
	Time      time.Time
	Limit     int
	Full      bool // values whole, not cut for a page
	// firstWait bounds the scan's first poll; zero waits as long as
	// the browse may.
	firstWait time.Duration
	Filter    filter
}

// parseQuery reads a browse's query string; a malformed one is a
// badRequest naming the field and what it wants.
func parseQuery(v url.Values) (query, error) {
	q := query{From: v.Get("from"), Partition: -1, Limit: DefaultBrowseLimit, Filter: filter{Raw: v}}
	if q.From == "" {
		q.From = "end"
	}
	var err error
	if s := v.Get("partition"); s != "" {
		p, perr := strconv.ParseInt(s, 10, 32)
		if perr != nil || p < 0 {
			return q, badRequest("partition %q: want a partition number (0 or more), or nothing for all", s)
		}
		q.Partition = int32(p)
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 1 || q.Limit > MaxBrowseLimit {
			return q, badRequest("limit %q: want a number from 1 to %d", s, MaxBrowseLimit)
		}
	}
	switch q.From {
	case "end", "beginning":
	case "offset":
		if q.Offset, err = strconv.ParseInt(v.Get("offset"), 10, 64); err != nil || q.Offset < 0 {
			return q, badRequest("offset %q: want an offset (0 or more)", v.Get("offset"))
		}
	case "time":
		if q.Time, err = parseTime(v.Get("time")); err != nil {
			return q, err
		}
	default:
		return q, badRequest("from %q: want end, beginning, offset or time", q.From)
	}
	return q, parseFilter(v, &q.Filter)
}

// parseTime reads RFC 3339, a datetime-local input's value (UTC), or
// milliseconds since the epoch.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= 0 {
		return time.UnixMilli(ms), nil
	}
	return time.Time{}, badRequest("time %q: want RFC 3339 (2024-05-01T12:00:00Z), 2024-05-01T12:00 (UTC) or milliseconds since the epoch", s)
}

func parseFilter(v url.Values, f *filter) error {
	f.Key, f.Text = v.Get("key"), v.Get("text")
	if h := v.Get("header"); h != "" {
		f.HeaderName, f.HeaderValue, f.HasValue = strings.Cut(h, "=")
		if f.HeaderName == "" {
			return badRequest("header filter %q: want name or name=value", h)
		}
	}
	if s := v.Get("regex"); s != "" {
		re, err := regexp.Compile(s)
		if err != nil {
			return badRequest("regex filter %q is not a valid RE2 expression: %v", s, err)
		}
		f.Regex = re
	}
	if s := v.Get("path"); s != "" {
		pf, err := parsePath(s)
		if err != nil {
			return err
		}
		f.Path = pf
	}
	return nil
}

// Browse limits: how far back a filtered "end" browse looks per partition,
// how many records one browse reads at most, and how long it may take.
const (
	filterWindow  = 10000
	scanBudget    = 200000
	browseTimeout = 10 * time.Second
	idleAfter     = 2 * time.Second
)

// browseResult is what a browse found.
type browseResult struct {
	Records []Record
	Scanned int
	Capped  bool // scanBudget or browseTimeout stopped the scan
}

// startOffsets resolves q to a start and an end offset per partition.
func (c *Console) startOffsets(ctx context.Context, topic string, q query) (map[int32][2]int64, error) {
	starts, err := c.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := c.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	var after kadm.ListedOffsets
	if q.From == "time" {
		if after, err = c.adm.ListOffsetsAfterMilli(ctx, q.Time.UnixMilli(), topic); err != nil {
			return nil, fmt.Errorf("list offsets after %v: %w", q.Time, err)
		}
	}
	window := int64(q.Limit)
	if !q.Filter.empty() {
		window = filterWindow
	}
	out := map[int32][2]int64{}
	found := false
	ends.Each(func(e kadm.ListedOffset) {
		if e.Topic != topic || e.Err != nil || (q.Partition >= 0 && e.Partition != q.Partition) {
			return
		}
		found = true
		s, _ := starts.Lookup(topic, e.Partition)
		from := s.Offset
		switch q.From {
		case "end":
			from = max(s.Offset, e.Offset-window)
		case "offset":
			from = min(max(s.Offset, q.Offset), e.Offset)
		case "time":
			if a, ok := after.Lookup(topic, e.Partition); ok && a.Err == nil && a.Offset >= 0 {
				from = min(max(s.Offset, a.Offset), e.Offset)
			} else {
				from = e.Offset
			}
		}
		out[e.Partition] = [2]int64{from, e.Offset}
	})
	if !found && q.Partition >= 0 {
		return nil, notFound("topic %q has no partition %d", topic, q.Partition)
	}
	return out, nil
}

// browse reads the records q asks for: forwards from the start for
// "beginning", "offset" and "time" (the first Limit that match), and the
// newest Limit that match for "end", newest first.
func (c *Console) browse(ctx context.Context, topic string, q query) (browseResult, error) {
	if _, err := c.describeTopicExists(ctx, topic); err != nil {
		return browseResult{}, err
	}
	ranges, err := c.startOffsets(ctx, topic, q)
	if err != nil {
		return browseResult{}, err
	}
	var res browseResult
	if err := c.scan(ctx, topic, ranges, q, &res); err != nil {
		return res, err
	}
	sortRecords(res.Records, q.From == "end")
	if len(res.Records) > q.Limit {
		res.Records = res.Records[:q.Limit]
	}
	return res, nil
}

// sortRecords orders by time (newest first when desc), then partition
// and offset.
func sortRecords(rs []Record, desc bool) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if !a.Timestamp.Equal(b.Timestamp) {
			return a.Timestamp.Before(b.Timestamp) != desc
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return (a.Offset < b.Offset) != desc
	})
}

// scanPartition reads partition p from rg[0] up to rg[1], keeping what
// matches in res.
func (c *Console) scanPartition(ctx context.Context, topic string, p int32, rg [2]int64, q query, res *browseResult) error {
	return c.scan(ctx, topic, map[int32][2]int64{p: rg}, q, res)
}

// scan reads every partition's range [from, to) with one client, keeping
// what matches in res: for each partition the first Limit matches going
// forwards, or the last Limit for "end".
func (c *Console) scan(ctx context.Context, topic string, ranges map[int32][2]int64, q query, res *browseResult) error {
	offs := map[int32]kgo.Offset{}
	for p, rg := range ranges {
		if rg[0] < rg[1] {
			offs[p] = kgo.NewOffset().At(rg[0])
		}
	}
	if len(offs) == 0 {
		return nil
	}
	cl, err := c.consumer(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, browseTimeout)
	defer cancel()
	s := scanState{ranges: ranges, q: q, kept: map[int32][]Record{}, pending: map[int32]bool{}}
	for p := range offs {
		s.pending[p] = true
	}
	polled := false
	for len(s.pending) > 0 {
		if res.Scanned >= scanBudget || ctx.Err() != nil {
			res.Capped = true
			break
		}
		// The first poll waits as long as the browse may (it connects
		// first, which a loaded machine makes slow); later ones end the
		// scan after idleAfter without records: what is left of a range
		// is then markers or gaps (transactions, compaction).
		wait := idleAfter
		if !polled {
			wait = cmp.Or(q.firstWait, browseTimeout)
		}
		pctx, pcancel := context.WithTimeout(ctx, wait)
		fs := cl.PollFetches(pctx)
		pcancel()
		if fs.NumRecords() == 0 {
			if err := fetchErr(fs); err != nil {
				return err
			}
			break
		}
		polled = true
		fs.EachRecord(func(r *kgo.Record) { s.take(c.toRecord(ctx, r, q.Full), res) })
		if done := s.finished(); len(done) > 0 {
			cl.PauseFetchPartitions(map[string][]int32{topic: done})
		}
	}
	for _, rs := range s.kept {
		res.Records = append(res.Records, rs...)
	}
	return nil
}

// scanState is a scan's progress. Invariant: pending holds the partitions
// still read; kept[p] holds at most q.Limit records.
type scanState struct {
	ranges  map[int32][2]int64
	q       query
	kept    map[int32][]Record
	pending map[int32]bool
	done    []int32 // finished since the last finished()
}

// take keeps rec if it is in its partition's range and passes the filter.
func (s *scanState) take(rec Record, res *browseResult) {
	p := rec.Partition
	rg := s.ranges[p]
	if !s.pending[p] || rec.Offset >= rg[1] {
		s.finish(p)
		return
	}
	res.Scanned++
	if s.q.Filter.match(rec) {
		s.kept[p] = append(s.kept[p], rec)
	}
	forward := s.q.From != "end"
	if !forward && len(s.kept[p]) > s.q.Limit {
		s.kept[p] = s.kept[p][1:]
	}
	if rec.Offset+1 >= rg[1] || forward && len(s.kept[p]) >= s.q.Limit {
		s.finish(p)
	}
}

func (s *scanState) finish(p int32) {
	if s.pending[p] {
		delete(s.pending, p)
		s.done = append(s.done, p)
	}
}

// finished returns the partitions finished since the last call.
func (s *scanState) finished() []int32 {
	d := s.done
	s.done = nil
	return d
}

// fetchErr is the first error of fs other than the poll's own deadline.
func fetchErr(fs kgo.Fetches) error {
	for _, fe := range fs.Errors() {
		if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
			continue
		}
		return fmt.Errorf("fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
	}
	return nil
}

// describeTopicExists returns the topic's partition count, or notFound.
func (c *Console) describeTopicExists(ctx context.Context, topic string) (int, error) {
	td, err := c.adm.ListTopicsWithInternal(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("topic metadata: %w", err)
	}
	t, ok := td[topic]
	if !ok || t.Err != nil {
		return 0, notFound("topic %q does not exist", topic)
	}
	return len(t.Partitions), nil
}

// fetchOne reads the record at topic/p/offset, or notFound.
func (c *Console) fetchOne(ctx context.Context, topic string, p int32, offset int64) (*kgo.Record, error) {
	q := query{From: "offset", Partition: p, Offset: offset, Limit: 1}
	ranges, err := c.startOffsets(ctx, topic, q)
	if err != nil {
		return nil, err
	}
	rg := ranges[p]
	if offset < rg[0] || offset >= rg[1] {
		return nil, notFound("%s/%d has no record at offset %d", topic, p, offset)
	}
	cl, err := c.consumer(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(offset)}}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, browseTimeout)
	defer cancel()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if err := fetchErr(fs); err != nil {
			return nil, err
		}
		for _, r := range fs.Records() {
			if r.Offset == offset {
				return r, nil
			}
			if r.Offset > offset {
				return nil, notFound("%s/%d has no record at offset %d", topic, p, offset)
			}
		}
	}
	return nil, fmt.Errorf("read %s/%d at %d: %w", topic, p, offset, ctx.Err())
}

package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// keepAlive is how often an idle event stream sends a comment, so that
// proxies keep the connection and the client notices a dead one.
const keepAlive = 15 * time.Second

// Cursor is an event stream's position: for each partition of the topic,
// the offset the stream reads next. It is every event's id, written
// "0:6,1:0" (partition:offset, by partition), so that a client that
// reconnects with it as Last-Event-ID resumes exactly after the last event
// it got, on every partition.
type Cursor map[int32]int64

// String formats c as an event id.
func (c Cursor) String() string {
	ps := make([]int32, 0, len(c))
	for p := range c {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(int64(p), 10))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(c[p], 10))
	}
	return b.String()
}

// ParseCursor reads an event id that Cursor.String wrote.
func ParseCursor(s string) (Cursor, error) {
	c := Cursor{}
	for _, part := range strings.Split(s, ",") {
		ps, os, ok := strings.Cut(strings.TrimSpace(part), ":")
		p, err1 := strconv.ParseInt(ps, 10, 32)
		o, err2 := strconv.ParseInt(os, 10, 64)
		if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
			return nil, badRequest("Last-Event-ID %q: want partition:offset pairs separated by commas, as the stream's event ids are", s)
		}
		c[int32(p)] = o
	}
	return c, nil
}

// streamStart resolves where a stream starts: the Last-Event-ID's cursor
// (partitions it does not name start at their log start, so nothing is
// missed), else from: "end" (default), "beginning", an offset for every
// partition, or a time.
func (c *Console) streamStart(ctx context.Context, topic, lastID, from string) (Cursor, error) {
	starts, err := c.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := c.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	pick, err := c.startPicker(ctx, topic, lastID, from)
	if err != nil {
		return nil, err
	}
	cur := Cursor{}
	ends.Each(func(e kadm.ListedOffset) {
		if e.Topic == topic && e.Err == nil {
			s, _ := starts.Lookup(topic, e.Partition)
			cur[e.Partition] = min(max(pick(e.Partition, s.Offset, e.Offset), s.Offset), e.Offset)
		}
	})
	return cur, nil
}

// startPicker returns the start offset chooser for lastID or from.
func (c *Console) startPicker(ctx context.Context, topic, lastID, from string) (func(p int32, start, end int64) int64, error) {
	if lastID != "" {
		cur, err := ParseCursor(lastID)
		if err != nil {
			return nil, err
		}
		return func(p int32, start, _ int64) int64 {
			if o, ok := cur[p]; ok {
				return o
			}
			return start
		}, nil
	}
	switch from {
	case "", "end":
		return func(_ int32, _, end int64) int64 { return end }, nil
	case "beginning":
		return func(_ int32, start, _ int64) int64 { return start }, nil
	}
	if o, err := strconv.ParseInt(from, 10, 64); err == nil && o >= 0 {
		return func(int32, int64, int64) int64 { return o }, nil
	}
	t, err := parseTime(from)
	if err != nil {
		return nil, badRequest("from %q: want end, beginning, an offset, or a time (RFC 3339 or milliseconds)", from)
	}
	after, err := c.adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topic)
	if err != nil {
		return nil, fmt.Errorf("list offsets after %v: %w", t, err)
	}
	return func(p int32, _, end int64) int64 {
		if a, ok := after.Lookup(topic, p); ok && a.Err == nil && a.Offset >= 0 {
			return a.Offset
		}
		return end
	}, nil
}

// handleEvents streams a topic's records as Server-Sent Events: event
// "record", data the Record as JSON, id the Cursor after it.
func (c *Console) handleEvents(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	if _, err := c.describeTopicExists(r.Context(), topic); err != nil {
		apiError(w, err)
		return
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("last_event_id")
	}
	cur, err := c.streamStart(r.Context(), topic, lastID, r.URL.Query().Get("from"))
	if err != nil {
		apiError(w, err)
		return
	}
	rate, err := maxRate(r.URL.Query().Get("max_rate"))
	if err != nil {
		apiError(w, err)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		apiError(w, fmt.Errorf("streaming is not supported by this server"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	fmt.Fprintf(w, "retry: 1000\n: from %s\n\n", cur)
	fl.Flush()
	if rate > 0 {
		err = c.sampled(r.Context(), w, fl, topic, cur, rate)
	} else {
		err = c.stream(r.Context(), w, fl, topic, cur)
	}
	if err != nil && r.Context().Err() == nil {
		fmt.Fprintf(w, "event: error\ndata: %s\n\n", jsonString(err.Error()))
		fl.Flush()
	}
}

// stream writes records from cur until ctx ends.
func (c *Console) stream(ctx context.Context, w http.ResponseWriter, fl http.Flusher, topic string, cur Cursor) error {
	offs := map[int32]kgo.Offset{}
	for p, o := range cur {
		offs[p] = kgo.NewOffset().At(o)
	}
	cl, err := c.consumer(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}))
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, keepAlive)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := fetchErr(fs); err != nil {
			return err
		}
		if fs.NumRecords() == 0 {
			_, _ = fmt.Fprint(w, ": keepalive\n\n")
			fl.Flush()
			continue
		}
		for _, rec := range fs.Records() {
			cur[rec.Partition] = rec.Offset + 1
			b, err := json.Marshal(c.toRecord(ctx, rec, false))
			if err != nil {
				return fmt.Errorf("record as JSON: %w", err)
			}
			if _, err := fmt.Fprintf(w, "id: %s\nevent: record\ndata: %s\n\n", cur, b); err != nil {
				return nil // the client left
			}
		}
		fl.Flush()
	}
	return nil
}

func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// maxRate reads the max_rate parameter: 0 (absent) streams every record.
func maxRate(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxBrowseLimit {
		return 0, badRequest("max_rate %q: want records a second per partition, 1 to %d", s, MaxBrowseLimit)
	}
	return n, nil
}

// Skipped is the data of a sampled stream's "skipped" event: the records
// [From, To) of Partition were left out to keep to max_rate.
type Skipped struct {
	Partition int32 `json:"partition"`
	From      int64 `json:"from"`
	To        int64 `json:"to"`
}

// sampled is the stream for a watching person (the live tail): once a
// second it sends the newest records of each partition, at most rate, and
// a "skipped" event for the older ones it leaves out. It reads only what
// it sends, so an open tail costs the broker little however fast the
// topic fills.
func (c *Console) sampled(ctx context.Context, w http.ResponseWriter, fl http.Flusher, topic string, cur Cursor, rate int) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	idle := time.Duration(0) // since the last event or keepalive
	for {
		sent, err := c.sampleOnce(ctx, w, topic, cur, rate)
		if err != nil {
			return err
		}
		if idle += time.Second; sent > 0 {
			idle = 0
		} else if idle >= keepAlive {
			_, _ = fmt.Fprint(w, ": keepalive\n\n")
			idle = 0
		}
		fl.Flush()
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// sampleOnce sends what arrived since cur, at most rate records a
// partition, and moves cur past it; it returns how many events it wrote.
func (c *Console) sampleOnce(ctx context.Context, w http.ResponseWriter, topic string, cur Cursor, rate int) (int, error) {
	ends, err := c.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("list end offsets: %w", err)
	}
	sent := 0
	var werr error
	ends.Each(func(e kadm.ListedOffset) {
		from, ok := cur[e.Partition]
		if werr != nil || e.Topic != topic || e.Err != nil || !ok || e.Offset <= from {
			return
		}
		if e.Offset-from > int64(rate) {
			skip := Skipped{Partition: e.Partition, From: from, To: e.Offset - int64(rate)}
			cur[e.Partition] = skip.To
			b, _ := json.Marshal(skip) // plain data always marshals
			if _, werr = fmt.Fprintf(w, "id: %s\nevent: skipped\ndata: %s\n\n", cur, b); werr != nil {
				return
			}
			from, sent = skip.To, sent+1
		}
		var res browseResult
		// A second's new offsets may be only a transaction's marker: wait
		// for records no longer than a tick or two.
		q := query{From: "offset", Partition: e.Partition, Offset: from, Limit: rate, firstWait: 2 * time.Second}
		if werr = c.scanPartition(ctx, topic, e.Partition, [2]int64{from, e.Offset}, q, &res); werr != nil {
			return
		}
		for _, rec := range res.Records {
			cur[e.Partition] = rec.Offset + 1
			b, err := json.Marshal(rec)
			if err != nil {
				werr = fmt.Errorf("record as JSON: %w", err)
				return
			}
			if _, werr = fmt.Fprintf(w, "id: %s\nevent: record\ndata: %s\n\n", cur, b); werr != nil {
				return
			}
			sent++
		}
		cur[e.Partition] = max(cur[e.Partition], e.Offset) // gaps (compaction, control batches)
	})
	return sent, werr
}

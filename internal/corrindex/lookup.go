package corrindex

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/records"
)

// MaxEvents bounds the events one trace returns.
const MaxEvents = 10000

// CatchUpBudget bounds how long a Trace indexes what the indexer has not
// reached yet before it answers.
var CatchUpBudget = 3 * time.Second // a variable for tests

// Location is where one indexed record is.
type Location struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Event is a record of a flow, read back from its partition.
type Event struct {
	Location
	// The CloudEvents attributes from the record's headers ("" when
	// absent).
	ID, Type, Source, CorrelationID, CausationID string
	// Time is ce_time when it parses (RFC 3339), else the record's
	// timestamp.
	Time      time.Time
	Timestamp time.Time // the record's timestamp
	Key       []byte
	Headers   []Header
	ValueSize int
}

// Header is one record header.
type Header struct{ Key, Value string }

// ErrNotFound means no record carries the id as its correlation id or its
// event id.
var ErrNotFound = errors.New("no event with that correlation id or event id")

// Locate returns where the records whose correlation id (kind 'c') or
// event id ('i') hashes as id's are, after catching up. Hits may include
// hash collisions and stale entries; Trace reads them back to check.
func (x *Index) Locate(kind byte, id string) ([]Location, error) {
	hash := hashID([]byte(id))
	it, err := x.db.NewIter(nil)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Location
	var prefix []byte
	seen := map[Location]bool{}
	x.mu.Lock()
	defer x.mu.Unlock()
	for e, last := uint32(0), x.epoch.Load(); e <= last && len(out) < MaxEvents; e++ {
		prefix = entryPrefix(prefix[:0], e, kind, hash)
		for it.SeekGE(prefix); it.Valid() && bytes.HasPrefix(it.Key(), prefix) && len(out) < MaxEvents; it.Next() {
			// The same record can be indexed in two epochs (indexed
			// again after a crash): once is enough.
			if l, ok := x.locationLocked(it.Key()); ok && !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
	}
	return out, it.Error()
}

// locationLocked is where an entry key points; ok is false for a
// partition that is gone. mu must be held.
func (x *Index) locationLocked(k []byte) (Location, bool) {
	pid, off, ok := parseEntryKey(k)
	if !ok {
		return Location{}, false
	}
	pk, ok := x.mu.byPID[pid]
	if !ok {
		return Location{}, false
	}
	t := x.cfg.Broker.TopicByID(pk.topicID)
	if t == nil {
		return Location{}, false
	}
	return Location{Topic: t.Name, Partition: pk.partition, Offset: off}, true
}

// Trace returns every event of the flow id names, sorted by time: id is a
// correlation id, or the event id of any event of the flow (whose
// correlation id is then followed). It first indexes what the broker has
// appended since the last pass.
func (x *Index) Trace(ctx context.Context, id string) ([]Event, error) {
	// Catch up first, for a while: an index far behind (a produce rate
	// above what it indexes, or a rebuild) answers from what it has.
	err := x.pass(0, time.Now().Add(CatchUpBudget))
	if errors.Is(err, errBehind) {
		x.logger.Warn("correlation index: trace answered before the index caught up with the logs", "id", id)
	} else if err != nil {
		return nil, err
	}
	evs, err := x.flow(ctx, id)
	if err != nil || len(evs) > 0 {
		return evs, err
	}
	// Not a correlation id: an event's own id?
	byID, err := x.read(ctx, kindEventID, id, func(e *Event) bool { return e.ID == id })
	if err != nil {
		return nil, err
	}
	for _, e := range byID {
		if e.CorrelationID != "" && e.CorrelationID != id {
			return x.flow(ctx, e.CorrelationID)
		}
	}
	if len(byID) > 0 {
		return byID, nil
	}
	return nil, ErrNotFound
}

// flow is the events whose correlation id is corr, and the flow's first
// event (whose id is corr, and which may not carry its own correlation
// id).
func (x *Index) flow(ctx context.Context, corr string) ([]Event, error) {
	evs, err := x.read(ctx, kindCorrelation, corr, func(e *Event) bool { return e.CorrelationID == corr })
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(evs, func(e Event) bool { return e.ID == corr }) {
		// The SDK's first event carries its own id as correlation id;
		// others may carry none.
		roots, err := x.read(ctx, kindEventID, corr, func(e *Event) bool { return e.ID == corr && e.CorrelationID == "" })
		if err != nil {
			return nil, err
		}
		evs = append(evs, roots...)
	}
	slices.SortStableFunc(evs, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return evs, nil
}

// read reads back the records Locate finds and keeps those keep accepts.
func (x *Index) read(ctx context.Context, kind byte, id string, keep func(*Event) bool) ([]Event, error) {
	locs, err := x.Locate(kind, id)
	if err != nil {
		return nil, err
	}
	var out []Event
	var buf, scratch []byte
	for _, l := range locs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var e *Event
		if e, buf, scratch, err = x.readEvent(l, buf, scratch); err != nil {
			return nil, err
		}
		if e != nil && keep(e) {
			out = append(out, *e)
		}
	}
	return out, nil
}

// readEvent reads the record at l; nil when it is gone (retention) or
// the partition no longer exists.
func (x *Index) readEvent(l Location, buf, scratch []byte) (*Event, []byte, []byte, error) {
	t := x.cfg.Broker.Topic(l.Topic)
	if t == nil {
		return nil, buf, scratch, nil
	}
	p := t.Partition(l.Partition)
	if p == nil || l.Offset < p.LogStartOffset() || l.Offset >= p.HighWatermark() {
		return nil, buf, scratch, nil
	}
	buf, err := p.Peek(buf[:0], l.Offset)
	if err != nil {
		return nil, buf, scratch, err
	}
	var found *Event
	for b := buf; len(b) >= records.HeaderSize && found == nil; {
		size, ok := records.PeekSize(b)
		if !ok || size > len(b) {
			break
		}
		h := records.Header(b)
		if l.Offset >= h.BaseOffset() && l.Offset <= h.LastOffset() {
			scratch, err = records.EachRecord(b[:size], scratch, func(r *records.Record) {
				if h.BaseOffset()+int64(r.OffsetDelta) == l.Offset {
					found = newEvent(l, h, r)
				}
			})
			if err != nil {
				return nil, buf, scratch, err
			}
		}
		b = b[size:]
	}
	return found, buf, scratch, nil
}

func newEvent(l Location, h records.Header, r *records.Record) *Event {
	ts := h.BaseTimestamp() + r.TimestampDelta
	if h.Attributes()&records.AttrLogAppendTime != 0 {
		ts = h.MaxTimestamp()
	}
	e := &Event{Location: l, Timestamp: time.UnixMilli(ts), Key: append([]byte(nil), r.Key...), ValueSize: len(r.Value)}
	e.Time = e.Timestamp
	r.EachHeader(func(k, v []byte) {
		hv := Header{Key: string(k), Value: string(v)}
		e.Headers = append(e.Headers, hv)
		switch hv.Key {
		case HeaderID:
			e.ID = hv.Value
		case HeaderType:
			e.Type = hv.Value
		case HeaderSource:
			e.Source = hv.Value
		case HeaderCorrelationID:
			e.CorrelationID = hv.Value
		case HeaderCausationID:
			e.CausationID = hv.Value
		case HeaderTime:
			if t, err := time.Parse(time.RFC3339Nano, hv.Value); err == nil {
				e.Time = t
			}
		}
	})
	return e
}

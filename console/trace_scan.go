package console

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultTraceScanRecords bounds the records one scanning trace reads.
const DefaultTraceScanRecords = 1_000_000

// scanTracer is the Tracer of a console in front of a cluster without
// Herald's correlation index (Apache Kafka, Redpanda, `herald console
// --brokers`, or `herald serve --correlation-index=false`): the fall-back
// Config.TraceScanWindow turns on. It reads every topic's records from
// window ago to the end and keeps those whose CloudEvents headers carry
// the id, so a trace costs a scan of that window (bounded by max records
// and the request's context), where the index answers in milliseconds
// whatever the topics hold. Events older than the window are not found.
type scanTracer struct {
	c      *Console
	window time.Duration
	max    int
	// idle ends a scan when a poll brings nothing for this long: the
	// partitions' ends may be control records no fetch returns.
	idle time.Duration
}

// Trace implements Tracer.
func (s scanTracer) Trace(ctx context.Context, id string) ([]TraceEvent, error) {
	flow, byID, err := s.scan(ctx, id)
	switch {
	case err != nil:
		return nil, err
	case len(flow) > 0:
		return flow, nil
	case byID == nil:
		return nil, ErrFlowNotFound
	case byID.CorrelationID == "" || byID.CorrelationID == id:
		return []TraceEvent{*byID}, nil
	}
	// id is an event's own id: its flow is its correlation id's.
	flow, _, err = s.scan(ctx, byID.CorrelationID)
	return flow, err
}

// scan reads the window once and returns the events whose correlation
// id is id, and the event whose own id is id.
func (s scanTracer) scan(ctx context.Context, id string) (flow []TraceEvent, byID *TraceEvent, err error) {
	starts, ends, err := s.bounds(ctx)
	if err != nil || len(starts) == 0 {
		return nil, nil, err
	}
	cl, err := s.c.consumer(kgo.ConsumePartitions(starts), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	read, since := 0, time.Now().Add(-s.window)
	for len(ends) > 0 && read < s.max {
		pctx, cancel := context.WithTimeout(ctx, s.idle)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("trace scan: %w", ctx.Err())
		}
		if fs.NumRecords() == 0 {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			read++
			if e, ok := traceEvent(r); ok && !r.Timestamp.Before(since) {
				if e.CorrelationID == id {
					flow = append(flow, e)
				}
				if e.ID == id && byID == nil {
					byID = &e
				}
			}
			if end, ok := ends[r.Topic][r.Partition]; ok && r.Offset+1 >= end {
				delete(ends[r.Topic], r.Partition)
				if len(ends[r.Topic]) == 0 {
					delete(ends, r.Topic)
				}
			}
		})
	}
	// In time order, as the index answers: the page lays out events of
	// one causation depth in this order.
	sort.SliceStable(flow, func(i, j int) bool {
		a, b := flow[i], flow[j]
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Offset < b.Offset
	})
	return flow, byID, nil
}

// bounds lists where each partition's window starts and ends; partitions
// with nothing in the window are left out.
func (s scanTracer) bounds(ctx context.Context) (map[string]map[int32]kgo.Offset, map[string]map[int32]int64, error) {
	topics, err := s.c.adm.ListTopics(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("trace scan: list topics: %w", err)
	}
	names := topics.Names()
	if len(names) == 0 {
		return nil, nil, nil
	}
	from, err := s.c.adm.ListOffsetsAfterMilli(ctx, time.Now().Add(-s.window).UnixMilli(), names...)
	if err == nil {
		err = from.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("trace scan: list offsets: %w", err)
	}
	to, err := s.c.adm.ListEndOffsets(ctx, names...)
	if err == nil {
		err = to.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("trace scan: list offsets: %w", err)
	}
	starts, ends := map[string]map[int32]kgo.Offset{}, map[string]map[int32]int64{}
	to.Each(func(o kadm.ListedOffset) {
		start, ok := from.Lookup(o.Topic, o.Partition)
		if !ok || start.Offset < 0 || start.Offset >= o.Offset {
			return
		}
		if starts[o.Topic] == nil {
			starts[o.Topic], ends[o.Topic] = map[int32]kgo.Offset{}, map[int32]int64{}
		}
		starts[o.Topic][o.Partition] = kgo.NewOffset().At(start.Offset)
		ends[o.Topic][o.Partition] = o.Offset
	})
	return starts, ends, nil
}

// traceEvent reads a record's CloudEvents headers (binary mode, as the
// SDK writes them); ok is false for a record without an event id.
func traceEvent(r *kgo.Record) (TraceEvent, bool) {
	e := TraceEvent{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Time: r.Timestamp}
	for _, h := range r.Headers {
		switch h.Key {
		case "ce_id":
			e.ID = string(h.Value)
		case "ce_type":
			e.Type = string(h.Value)
		case "ce_source":
			e.Source = string(h.Value)
		case "ce_correlationid":
			e.CorrelationID = string(h.Value)
		case "ce_causationid":
			e.CausationID = string(h.Value)
		case "ce_time":
			if t, err := time.Parse(time.RFC3339Nano, string(h.Value)); err == nil {
				e.Time = t
			}
		}
	}
	return e, e.ID != ""
}

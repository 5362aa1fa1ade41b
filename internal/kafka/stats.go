package kafka

import (
	"reflect"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/stats"
)

// maxStatsKey bounds the API keys counted one by one; requests for
// higher keys (none is served) count under key -1 of Requests.
const maxStatsKey = 127

// requestStats counts requests per API key in a fixed array indexed by
// key: counting one costs the connection's writer three atomic adds and a
// histogram update, with no lock and no map. The metrics collector reads
// it at scrape time (RequestStats).
type requestStats struct {
	byKey [maxStatsKey + 1]apiCounters
	other apiCounters // unparsable frames and keys above maxStatsKey
	// accepted counts connections accepted since start (the open ones
	// are Server.nconns).
	accepted atomic.Uint64
}

type apiCounters struct {
	requests, errors atomic.Uint64
	latency          *stats.Histogram // from read to answered
}

func newRequestStats() *requestStats {
	s := &requestStats{}
	for i := range s.byKey {
		s.byKey[i].latency = stats.NewHistogram(stats.LatencyBounds)
	}
	s.other.latency = stats.NewHistogram(stats.LatencyBounds)
	return s
}

func (s *requestStats) counters(key int16) *apiCounters {
	if key < 0 || int(key) > maxStatsKey {
		return &s.other
	}
	return &s.byKey[key]
}

// observe counts one answered (or dropped) request; it runs on the
// connection's writer.
func (s *requestStats) observe(p *pending) {
	c := s.counters(p.key)
	c.requests.Add(1)
	if p.err != nil || (p.resp != nil && responseFailed(p.resp)) {
		c.errors.Add(1)
	}
	if !p.start.IsZero() {
		c.latency.ObserveSince(p.start)
	}
}

// APIStats are one API key's counters.
type APIStats struct {
	Key      int16 // -1: requests that could not be parsed
	Name     string
	Requests uint64
	// Errors counts requests answered with an error code (at the top
	// level, or for any partition of a produce or fetch) or that closed
	// the connection.
	Errors  uint64
	Latency stats.Snapshot // nanoseconds from read to answered
}

// RequestStats returns the counters of every API key that has seen a
// request, and the connections accepted since start and open now.
func (s *Server) RequestStats() (apis []APIStats, accepted uint64, open int64) {
	for i := range s.stats.byKey {
		c := &s.stats.byKey[i]
		if n := c.requests.Load(); n > 0 {
			apis = append(apis, APIStats{Key: int16(i), Name: kmsg.NameForKey(int16(i)), Requests: n, Errors: c.errors.Load(), Latency: c.latency.Snapshot()})
		}
	}
	if n := s.stats.other.requests.Load(); n > 0 {
		apis = append(apis, APIStats{Key: -1, Name: "Unknown", Requests: n, Errors: s.stats.other.errors.Load(), Latency: s.stats.other.latency.Snapshot()})
	}
	return apis, s.stats.accepted.Load(), int64(s.nconns.Load())
}

// errorCodeField is, per response type, the index of its top-level
// ErrorCode field (-1 without one), found once per type by reflection so
// that responseFailed reads it without a lookup by name.
var errorCodeField = func() map[reflect.Type]int {
	m := map[reflect.Type]int{}
	for key := int16(0); key <= maxStatsKey; key++ {
		r := kmsg.ResponseForKey(key)
		if r == nil {
			continue
		}
		t := reflect.TypeOf(r).Elem()
		idx := -1
		if f, ok := t.FieldByName("ErrorCode"); ok && f.Type.Kind() == reflect.Int16 && len(f.Index) == 1 {
			idx = f.Index[0]
		}
		m[reflect.TypeOf(r)] = idx
	}
	return m
}()

// responseFailed reports whether resp carries an error code: a produce or
// fetch for any partition, any other response at its top level.
func responseFailed(resp kmsg.Response) bool {
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if r.Topics[i].Partitions[j].ErrorCode != 0 {
					return true
				}
			}
		}
		return false
	case *kmsg.FetchResponse:
		if r.ErrorCode != 0 {
			return true
		}
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if r.Topics[i].Partitions[j].ErrorCode != 0 {
					return true
				}
			}
		}
		return false
	}
	idx, ok := errorCodeField[reflect.TypeOf(resp)]
	if !ok || idx < 0 {
		return false
	}
	return reflect.ValueOf(resp).Elem().Field(idx).Int() != 0
}

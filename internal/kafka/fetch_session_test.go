package kafka

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchFullWithSessionID: a fetch naming a session with epoch -1
// (close it, sessionless full fetch, as segmentio/kafka-go sends) or 0
// (close it, start anew) is a full fetch, as in Kafka, and is answered
// with its records: session id 0 for epoch -1, a new session for epoch 0;
// only an incremental fetch (epoch > 0) of a session we never gave out
// gets FETCH_SESSION_ID_NOT_FOUND.
func TestFetchFullWithSessionID(t *testing.T) {
	ts := startServer(t, nil)
	if _, err := ts.b.CreateTopic("sess", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t)
	c.roundTrip(produceReq(9, "sess", 0, makeBatch(3, 10, 1)))
	for _, epoch := range []int32{-1, 0} {
		req := fetchReq(12, "sess", 0, 0, 0)
		req.SessionID, req.SessionEpoch = 12345, epoch
		resp := c.roundTrip(req).(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("epoch %d: error %v", epoch, kerr.ErrorForCode(resp.ErrorCode))
		}
		if epoch == -1 && resp.SessionID != 0 {
			t.Fatalf("epoch -1: session id %d, want 0 (no session)", resp.SessionID)
		}
		if epoch == 0 && (resp.SessionID == 0 || resp.SessionID == 12345) {
			t.Fatalf("epoch 0: session id %d, want a new session", resp.SessionID)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
			t.Fatalf("epoch %d: answer without the partition's records: %+v", epoch, resp.Topics)
		}
	}
	req := fetchReq(12, "sess", 0, 0, 0)
	req.SessionID, req.SessionEpoch = 12345, 1
	resp := c.roundTrip(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code || len(resp.Topics) != 0 {
		t.Fatalf("incremental fetch: error %d, %d topics; want FETCH_SESSION_ID_NOT_FOUND and none", resp.ErrorCode, len(resp.Topics))
	}
}

// sessionFetch is a v12 fetch of the given partitions of topic at the
// given offsets in session id at epoch, answering at once.
func sessionFetch(id, epoch int32, topic string, offsets map[int32]int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 0, 1<<20
	req.SessionID, req.SessionEpoch = id, epoch
	if len(offsets) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		for p := range int32(16) {
			off, ok := offsets[p]
			if !ok {
				continue
			}
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// answered lists the partitions a fetch response answered, with whether
// each carried records.
func answered(resp *kmsg.FetchResponse) map[int32]bool {
	out := map[int32]bool{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = len(p.RecordBatches) > 0
		}
	}
	return out
}

// TestIncrementalFetchSession walks KIP-227's rules on the wire: a full
// fetch opens a session; an incremental fetch lists only what changed and
// is answered only for partitions with something new (records, a moved
// high watermark); forgotten partitions leave the session; a wrong epoch
// is INVALID_FETCH_SESSION_EPOCH, an unknown session
// FETCH_SESSION_ID_NOT_FOUND, and epoch -1 closes the session.
func TestIncrementalFetchSession(t *testing.T) {
	ts := startServer(t, nil)
	if _, err := ts.b.CreateTopic("inc", 3, nil, false); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t)
	produce := func(p int32) {
		t.Helper()
		r := c.roundTrip(produceReq(9, "inc", p, makeBatch(1, 10, 1))).(*kmsg.ProduceResponse)
		if code := r.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
	}
	fetch := func(req *kmsg.FetchRequest, wantErr int16) *kmsg.FetchResponse {
		t.Helper()
		resp := c.roundTrip(req).(*kmsg.FetchResponse)
		if resp.ErrorCode != wantErr {
			t.Fatalf("fetch epoch %d: error %v, want %v", req.SessionEpoch, kerr.ErrorForCode(resp.ErrorCode), kerr.ErrorForCode(wantErr))
		}
		return resp
	}
	produce(0)
	full := fetch(sessionFetch(0, 0, "inc", map[int32]int64{0: 0, 1: 0, 2: 0}), 0)
	id := full.SessionID
	if id == 0 {
		t.Fatal("a full fetch with epoch 0 opened no session")
	}
	if got := answered(full); len(got) != 3 || !got[0] || got[1] || got[2] {
		t.Fatalf("full fetch answered %v, want all three, records in 0 only", got)
	}
	if n := ts.s.sessions.len(); n != 1 {
		t.Fatalf("%d sessions open, want 1", n)
	}

	// Nothing changed: an empty incremental fetch gets an empty answer.
	inc := fetch(sessionFetch(id, 1, "inc", map[int32]int64{0: 1}), 0)
	if inc.SessionID != id || len(answered(inc)) != 0 {
		t.Fatalf("incremental fetch with nothing new: session %d, answered %v; want %d and nothing", inc.SessionID, answered(inc), id)
	}
	// A record in partition 2: only partition 2 is answered, from the
	// offset the session keeps (0), though the request does not list it.
	produce(2)
	inc = fetch(sessionFetch(id, 2, "inc", nil), 0)
	if got := answered(inc); len(got) != 1 || !got[2] {
		t.Fatalf("after a record in partition 2: answered %v, want partition 2 with records", got)
	}
	// Forget partition 1, then write to it: it is not answered.
	forget := sessionFetch(id, 3, "inc", map[int32]int64{2: 1})
	ft := kmsg.NewFetchRequestForgottenTopic()
	ft.Topic, ft.Partitions = "inc", []int32{1}
	forget.ForgottenTopics = append(forget.ForgottenTopics, ft)
	fetch(forget, 0)
	produce(1)
	if got := answered(fetch(sessionFetch(id, 4, "inc", nil), 0)); len(got) != 0 {
		t.Fatalf("a forgotten partition was answered: %v", got)
	}

	fetch(sessionFetch(id, 9, "inc", nil), kerr.InvalidFetchSessionEpoch.Code)
	fetch(sessionFetch(id+1, 1, "inc", nil), kerr.FetchSessionIDNotFound.Code)
	// The session survives a wrong epoch; epoch 5 is next.
	fetch(sessionFetch(id, 5, "inc", nil), 0)
	closed := fetch(sessionFetch(id, -1, "inc", map[int32]int64{0: 0}), 0)
	if closed.SessionID != 0 || !answered(closed)[0] {
		t.Fatalf("epoch -1: session %d, answered %v; want a sessionless full fetch", closed.SessionID, answered(closed))
	}
	fetch(sessionFetch(id, 6, "inc", nil), kerr.FetchSessionIDNotFound.Code)
	if n := ts.s.sessions.len(); n != 0 {
		t.Fatalf("%d sessions open after epoch -1, want 0", n)
	}
}

// TestFetchSessionCacheFull: with no room in the cache and every session
// recently used, a new full fetch is served sessionless (id 0), as Kafka
// does, and nothing is evicted.
func TestFetchSessionCacheFull(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxFetchSessions = 1 })
	if _, err := ts.b.CreateTopic("full", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t)
	first := c.roundTrip(sessionFetch(0, 0, "full", map[int32]int64{0: 0})).(*kmsg.FetchResponse)
	second := c.roundTrip(sessionFetch(0, 0, "full", map[int32]int64{0: 0})).(*kmsg.FetchResponse)
	if first.SessionID == 0 || second.SessionID != 0 || second.ErrorCode != 0 {
		t.Fatalf("sessions %d then %d (error %d); want one, then sessionless", first.SessionID, second.SessionID, second.ErrorCode)
	}
	if inc := c.roundTrip(sessionFetch(first.SessionID, 1, "full", nil)).(*kmsg.FetchResponse); inc.ErrorCode != 0 {
		t.Fatalf("the first session was evicted: %v", kerr.ErrorForCode(inc.ErrorCode))
	}
}

// TestFetchSessionsFranzGo: franz-go consumes 60 partitions through an
// incremental fetch session while records arrive in a few of them at a
// time: every record arrives once, in order per partition, and the
// fetches after the first were incremental.
func TestFetchSessionsFranzGo(t *testing.T) {
	ts := startServer(t, nil)
	const parts, rounds = 60, 15
	if _, err := ts.b.CreateTopic("many", parts, nil, false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(ts.addr), kgo.DefaultProduceTopic("many"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(ts.addr), kgo.ConsumeTopics("many"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	next := map[int32]int64{} // the next sequence expected per partition
	want := 0
	for round := range rounds {
		for k := range 4 { // four partitions get a record this round
			p := int32((round*7 + k*13) % parts)
			r := &kgo.Record{Partition: p, Value: []byte(strconv.Itoa(round))}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
			want++
		}
		for got := 0; got < 4; {
			fs := cons.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("round %d: %d of 4 records: %v", round, got, err)
			}
			fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", topic, p, err) })
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset != next[r.Partition] {
					t.Fatalf("partition %d: offset %d, want %d (lost or repeated)", r.Partition, r.Offset, next[r.Partition])
				}
				next[r.Partition]++
				got++
			})
			if got > 4 {
				t.Fatalf("round %d: %d records, want 4", round, got)
			}
		}
	}
	total := 0
	for _, n := range next {
		total += int(n)
	}
	if total != want {
		t.Fatalf("consumed %d records, produced %d", total, want)
	}
	if n := ts.s.sessions.incremental.Load(); n < rounds {
		t.Fatalf("%d incremental fetches over %d rounds: the consumer did not use its session", n, rounds)
	}
}

// BenchmarkFetch1000Partitions: a consumer of 1,000 partitions where one
// record arrives per fetch, with full fetches (every partition listed and
// answered) and with an incremental fetch session (only the partition
// that moved). It reports the request and response bytes per fetch.
//
//	go test -run '^$' -bench Fetch1000Partitions -benchmem ./internal/kafka
func BenchmarkFetch1000Partitions(b *testing.B) {
	const parts = 1000
	for _, mode := range []string{"full", "session"} {
		b.Run(mode, func(b *testing.B) {
			ts := startServer(b, nil)
			if _, err := ts.b.CreateTopic("k", parts, nil, false); err != nil {
				b.Fatal(err)
			}
			c := ts.dial(b)
			offsets := make(map[int32]int64, parts)
			all := make(map[int32]int64, parts)
			for p := range int32(parts) {
				offsets[p], all[p] = 0, 0
			}
			req := manyFetch(0, 0, "k", offsets)
			resp := c.roundTrip(req).(*kmsg.FetchResponse)
			id, epoch := resp.SessionID, int32(1)
			if mode == "session" && id == 0 {
				b.Fatal("no session")
			}
			batch := makeBatch(1, 10, 1)
			var reqBytes, respBytes int64
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				p := int32(i % parts)
				c.roundTrip(produceReq(9, "k", p, append([]byte(nil), batch...)))
				if mode == "full" {
					req = manyFetch(0, -1, "k", all)
				} else {
					// Only what changed since the last fetch: the
					// partition it returned a record of, at its new
					// offset (none before the first).
					moved := map[int32]int64{}
					if i > 0 {
						moved[int32((i-1)%parts)] = all[int32((i-1)%parts)]
					}
					req = manyFetch(id, epoch, "k", moved)
					epoch++
				}
				reqBytes += int64(len(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)))
				resp := c.roundTrip(req).(*kmsg.FetchResponse)
				if resp.ErrorCode != 0 || !answered(resp)[p] {
					b.Fatalf("fetch %d: error %d, partition %d not answered with records", i, resp.ErrorCode, p)
				}
				respBytes += int64(len(resp.AppendTo(nil)))
				all[p]++ // the next fetch of p lists its new offset
			}
			b.ReportMetric(float64(reqBytes)/float64(b.N), "req-B/fetch")
			b.ReportMetric(float64(respBytes)/float64(b.N), "resp-B/fetch")
		})
	}
}

// manyFetch is sessionFetch for any number of partitions, in partition
// order.
func manyFetch(id, epoch int32, topic string, offsets map[int32]int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 0, 1<<20
	req.SessionID, req.SessionEpoch = id, epoch
	if len(offsets) == 0 {
		return req
	}
	ps := make([]int32, 0, len(offsets))
	for p := range offsets {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	for _, p := range ps {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, offsets[p], 1<<20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// TestFetchSessionPartitionBound: the partitions all sessions hold are
// bounded. Incremental fetches that only move offsets do not count again;
// one that adds partitions past the bound closes its session
// (FETCH_SESSION_ID_NOT_FOUND), and a full fetch too large for it is
// served sessionless. A client listing many (or made-up) partitions in
// many sessions cannot make the cache grow without limit.
func TestFetchSessionPartitionBound(t *testing.T) {
	ts := startServer(t, nil)
	ts.s.sessions.mu.Lock()
	ts.s.sessions.maxParts = 4
	ts.s.sessions.mu.Unlock()
	if _, err := ts.b.CreateTopic("bound", 6, nil, false); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t)
	full := c.roundTrip(sessionFetch(0, 0, "bound", map[int32]int64{0: 0, 1: 0, 2: 0})).(*kmsg.FetchResponse)
	id := full.SessionID
	if id == 0 {
		t.Fatal("no session for 3 partitions with room for 4")
	}
	for epoch := int32(1); epoch <= 10; epoch++ {
		inc := c.roundTrip(sessionFetch(id, epoch, "bound", map[int32]int64{0: int64(epoch)})).(*kmsg.FetchResponse)
		if inc.ErrorCode != 0 {
			t.Fatalf("epoch %d, moving an offset only: %v", epoch, kerr.ErrorForCode(inc.ErrorCode))
		}
	}
	grow := c.roundTrip(sessionFetch(id, 11, "bound", map[int32]int64{3: 0, 4: 0})).(*kmsg.FetchResponse)
	if grow.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("adding partitions past the bound: %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(grow.ErrorCode))
	}
	ts.s.sessions.mu.Lock()
	n, parts := len(ts.s.sessions.mu.byID), ts.s.sessions.mu.parts
	ts.s.sessions.mu.Unlock()
	if n != 0 || parts != 0 {
		t.Fatalf("%d sessions holding %d partitions after the close, want none", n, parts)
	}
	big := c.roundTrip(sessionFetch(0, 0, "bound", map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0, 4: 0})).(*kmsg.FetchResponse)
	if big.ErrorCode != 0 || big.SessionID != 0 || len(answered(big)) != 5 {
		t.Fatalf("a full fetch past the bound: error %d, session %d, %d partitions; want a sessionless answer of all 5",
			big.ErrorCode, big.SessionID, len(answered(big)))
	}
}

package kafka

import (
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/broker"
	hlog "github.com/heraldhq/herald/internal/log"
)

// fetchBufs recycles the buffers fetch responses read stored batches into;
// the writer returns a buffer once the response is encoded.
var fetchBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledFetchBuf keeps unusually large buffers out of the pool.
const maxPooledFetchBuf = 8 << 20

// fetch is one fetch request being answered. Stored batches are read into
// one buffer and passed through to the response without copying or
// decoding.
type fetch struct {
	s    *Server
	req  *kmsg.FetchRequest
	resp *kmsg.FetchResponse
	buf  *[]byte
	// parts[i] is resp.Topics[parts[i].t].Partitions[parts[i].p].
	parts []fetchPart
	// live counts the partitions read (those without an error): a
	// fetch of none of them has nothing to wait for.
	live int
	// waitOn are the Changed channels of the partitions read, taken only
	// when the fetch is about to wait (see armWait).
	waitOn []<-chan struct{}
	bytes  int
	// index maps partitions to f.parts for fetches of many partitions
	// (see listed); nil for few.
	index map[*broker.Partition]int
}

type fetchPart struct {
	t, p   int
	part   *broker.Partition // nil when the partition has an error
	offset int64
	max    int32
	start  int // the partition's batches are buf[start:end]
	end    int
}

// handleFetch answers at once when min bytes are there, the client will
// not wait, or the server is closing; otherwise it long-polls until an
// append brings enough bytes or max wait passes. A fetch in an incremental
// fetch session (KIP-227, fetch_session.go) reads every partition of its
// session and answers only those with something new.
func handleFetch(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	sp := s.sessions.begin(req, r.version)
	if sp.errCode != 0 {
		resp.ErrorCode = sp.errCode
		return resp, nil
	}
	switch {
	case sp.incremental:
		sp.sess.update(req)
		if !s.sessions.settle(sp.sess) {
			sp.end()
			resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
			return resp, nil
		}
		full := *req
		full.Topics, full.ForgottenTopics = sp.sess.request(r.version), nil
		req = &full
	case sp.sess != nil:
		sp.sess.record(req)
		s.sessions.settle(sp.sess) // fewer than reserved if listed twice
	}
	// The session stays locked until the answer is made, whichever
	// goroutine makes it, and is unlocked even if that panics.
	later := false
	defer func() {
		if !later {
			sp.end()
		}
	}()
	f := &fetch{s: s, req: req, resp: resp, buf: fetchBufs.Get().(*[]byte)}
	r.p.release = f.release
	f.plan(r)
	f.read()
	done := func() {
		f.finish()
		if sp.sess != nil {
			sp.sess.answered(resp, sp.incremental)
			resp.SessionID = sp.sess.id
		}
	}
	wait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	if f.bytes >= int(req.MinBytes) || wait <= 0 || f.live == 0 {
		done()
		return resp, nil
	}
	deadline := time.Now().Add(min(wait, s.maxWait))
	later = true
	r.later(func() kmsg.Response {
		defer sp.end()
		f.longPoll(deadline)
		done()
		return resp
	})
	return nil, nil
}

// plan resolves topics and partitions and lays out the response. A
// partition listed more than once is answered once, at its first place,
// from its last listing's offset and max bytes: Kafka reads a fetch's
// partitions into a map. A topic r may not READ answers
// TOPIC_AUTHORIZATION_FAILED.
func (f *fetch) plan(r *request) {
	f.resp.Topics = make([]kmsg.FetchResponseTopic, 0, len(f.req.Topics))
	for i := range f.req.Topics {
		rt := &f.req.Topics[i]
		ot := kmsg.NewFetchResponseTopic()
		ot.Topic, ot.TopicID = rt.Topic, rt.TopicID
		t, terr := f.topic(r, rt)
		ot.Partitions = make([]kmsg.FetchResponseTopicPartition, 0, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			op := kmsg.NewFetchResponseTopicPartition()
			op.Partition = rp.Partition
			fp := fetchPart{t: len(f.resp.Topics), p: len(ot.Partitions), offset: rp.FetchOffset, max: rp.PartitionMaxBytes}
			switch {
			case t == nil:
				op.ErrorCode = terr.Code
			case t.Partition(rp.Partition) == nil:
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.CurrentLeaderEpoch > 0:
				op.ErrorCode = kerr.UnknownLeaderEpoch.Code
			default:
				fp.part = t.Partition(rp.Partition)
				if k := f.listed(fp.part); k >= 0 {
					f.parts[k].offset, f.parts[k].max = fp.offset, fp.max
					continue
				}
			}
			ot.Partitions = append(ot.Partitions, op)
			f.parts = append(f.parts, fp)
		}
		if len(ot.Partitions) > 0 || len(rt.Partitions) == 0 {
			f.resp.Topics = append(f.resp.Topics, ot)
		}
	}
}

// topic resolves a request topic by name, or by id from v13, and checks
// READ on it (by name before its existence, so that names do not leak).
// It returns nil and the error its partitions answer when it cannot be
// read.
func (f *fetch) topic(r *request, rt *kmsg.FetchRequestTopic) (*broker.Topic, *kerr.Error) {
	var t *broker.Topic
	name := rt.Topic
	if r.version >= 13 {
		if t = f.s.b.TopicByID(rt.TopicID); t == nil {
			return nil, kerr.UnknownTopicID
		}
		name = t.Name
	}
	if err := f.s.access(r, access.Read, access.Topic, name); err != nil {
		return nil, err
	}
	if t == nil {
		if t = f.s.b.Topic(name); t == nil {
			return nil, kerr.UnknownTopicOrPartition
		}
	}
	return t, nil
}

// listed returns the index in f.parts of p, or -1. A scan serves the
// usual few partitions without allocating; a map takes over for many.
func (f *fetch) listed(p *broker.Partition) int {
	if len(f.parts) < 16 {
		for k := range f.parts {
			if f.parts[k].part == p {
				return k
			}
		}
		return -1
	}
	if f.index == nil {
		f.index = make(map[*broker.Partition]int, len(f.parts))
		for k := range f.parts {
			if f.parts[k].part != nil {
				f.index[f.parts[k].part] = k
			}
		}
	}
	k, ok := f.index[p]
	if !ok {
		f.index[p] = len(f.parts)
		return -1
	}
	return k
}

// read reads every partition from its fetch offset, within the
// per-partition and response limits; the response limit is the request's
// max bytes capped by the broker's FetchMaxBytes. The first batch read may
// exceed them (KIP-74), so a consumer can always make progress.
func (f *fetch) read() {
	buf := (*f.buf)[:0]
	f.bytes, f.live = 0, 0
	limit := int(f.s.cfg.FetchMaxBytes)
	if f.req.MaxBytes > 0 {
		limit = min(limit, int(f.req.MaxBytes))
	}
	for i := range f.parts {
		fp := &f.parts[i]
		if fp.part == nil {
			continue
		}
		op := f.partResp(fp)
		f.live++
		fp.start = len(buf)
		n := max(min(int(fp.max), limit-f.bytes), 0)
		var (
			rr  broker.ReadResult
			err error
		)
		buf, rr, err = fp.part.Read(buf, broker.ReadRequest{Offset: fp.offset, MaxBytes: n, MinOne: f.bytes == 0,
			Committed: f.req.IsolationLevel == readCommitted})
		op.AbortedTransactions = nil
		if f.req.IsolationLevel == readCommitted && err == nil {
			op.AbortedTransactions = abortedOf(rr.Aborted)
		}
		fp.end = len(buf)
		f.bytes += fp.end - fp.start
		op.HighWatermark, op.LastStableOffset, op.LogStartOffset = rr.HighWatermark, rr.LastStable, rr.LogStart
		op.ErrorCode = 0
		if err != nil {
			op.ErrorCode = fetchErrCode(err)
		}
	}
	*f.buf = buf
}

// readCommitted is the isolation level that stops at the last stable
// offset and lists aborted transactions.
const readCommitted = 1

// abortedOf is the aborted transactions in the protocol's form: never
// nil, as Kafka answers an empty list at read_committed.
func abortedOf(abs []broker.AbortedTxn) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	out := make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, 0, len(abs))
	for _, a := range abs {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		out = append(out, at)
	}
	return out
}

func fetchErrCode(err error) int16 {
	switch {
	case errors.Is(err, hlog.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, hlog.ErrClosed):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, hlog.ErrDamaged):
		// Not KAFKA_STORAGE_ERROR, which clients take for "the log dir
		// is offline, refresh metadata and retry": the Java consumer
		// raises CORRUPT_MESSAGE to the application, which can seek
		// past the damaged offsets.
		return kerr.CorruptMessage.Code
	}
	return kerr.KafkaStorageError.Code
}

func (f *fetch) partResp(fp *fetchPart) *kmsg.FetchResponseTopicPartition {
	return &f.resp.Topics[fp.t].Partitions[fp.p]
}

// longPoll waits until an append to a partition read, the deadline or
// shutdown, re-reading after each append, until min bytes are there.
func (f *fetch) longPoll(deadline time.Time) {
	for {
		d := time.Until(deadline)
		if d <= 0 {
			return
		}
		if !f.armWait() {
			timer := time.NewTimer(d)
			woke := f.waitAny(timer.C)
			timer.Stop()
			if !woke {
				return
			}
		}
		f.read()
		if f.bytes >= int(f.req.MinBytes) || f.live == 0 {
			return
		}
	}
}

// armWait takes the Changed channel of every partition read, then checks
// that no high watermark moved since the read: an append between the read
// and the channel would otherwise go unnoticed until max wait. It reports
// whether one moved (read again rather than wait). Taking the channels
// only here keeps fetches that answer at once from allocating them.
func (f *fetch) armWait() (moved bool) {
	f.waitOn = f.waitOn[:0]
	for i := range f.parts {
		fp := &f.parts[i]
		if fp.part == nil {
			continue
		}
		f.waitOn = append(f.waitOn, fp.part.Changed())
		if fp.part.HighWatermark() != f.partResp(fp).HighWatermark {
			moved = true
		}
	}
	return moved
}

// waitAny blocks until one of f.waitOn closes (true), or timeout or
// shutdown (false).
func (f *fetch) waitAny(timeout <-chan time.Time) bool {
	if len(f.waitOn) == 1 {
		select {
		case <-f.waitOn[0]:
			return true
		case <-timeout:
		case <-f.s.die:
		}
		return false
	}
	cases := make([]reflect.SelectCase, 0, len(f.waitOn)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timeout)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(f.s.die)})
	for _, ch := range f.waitOn {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	i, _, _ := reflect.Select(cases)
	return i >= 2
}

// noRecords is an empty, non-nil record set: kmsg encodes nil as a null
// (-1 length) record set, which librdkafka refuses, and Kafka sends 0.
var noRecords = []byte{}

// finish points each partition's RecordBatches into the buffer; the buffer
// no longer grows after this.
func (f *fetch) finish() {
	buf := *f.buf
	for i := range f.parts {
		fp := &f.parts[i]
		op := f.partResp(fp)
		op.RecordBatches = noRecords
		if fp.end > fp.start {
			op.RecordBatches = buf[fp.start:fp.end:fp.end]
		}
	}
}

// release returns the buffer once the response has been encoded.
func (f *fetch) release() {
	if cap(*f.buf) <= maxPooledFetchBuf {
		*f.buf = (*f.buf)[:0]
		fetchBufs.Put(f.buf)
	}
	f.buf = nil
}

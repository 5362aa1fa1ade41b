package txn_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/records"
)

// rawProducer sends hand-built produce requests, so a test controls the
// producer id, epoch and sequence of every batch.
type rawProducer struct {
	t    *testing.T
	b    *heraldtest.Broker
	conn net.Conn
	corr int32
}

func (p *rawProducer) request(req kmsg.Request) kmsg.Response {
	p.t.Helper()
	for attempt := 0; ; attempt++ {
		if p.conn == nil {
			c, err := net.Dial("tcp", p.b.Addr())
			if err != nil {
				p.t.Fatal(err)
			}
			p.conn = c
		}
		resp, err := p.roundTrip(req)
		if err == nil {
			return resp
		}
		p.conn.Close()
		p.conn = nil
		if attempt == 5 {
			p.t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *rawProducer) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	p.corr++
	body := req.AppendTo(nil)
	var b []byte
	b = append(b, 0, 0, 0, 0)
	b = be16(b, req.Key())
	b = be16(b, req.GetVersion())
	b = be32(b, p.corr)
	b = be16(b, 4)
	b = append(b, "test"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = append(b, body...)
	n := len(b) - 4
	b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	p.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := p.conn.Write(b); err != nil {
		return nil, err
	}
	var sz [4]byte
	if _, err := ioReadFull(p.conn, sz[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, int(sz[0])<<24|int(sz[1])<<16|int(sz[2])<<8|int(sz[3]))
	if _, err := ioReadFull(p.conn, buf); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	buf = buf[4:]
	if resp.IsFlexible() && req.Key() != 18 {
		buf = buf[1:]
	}
	return resp, resp.ReadFrom(buf)
}

func ioReadFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func be16(b []byte, v int16) []byte { return append(b, byte(v>>8), byte(v)) }
func be32(b []byte, v int32) []byte { return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v)) }

func (p *rawProducer) initPID() (int64, int16) {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	req.TransactionTimeoutMillis = 60000
	resp := p.request(req).(*kmsg.InitProducerIDResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		p.t.Fatal(err)
	}
	return resp.ProducerID, resp.ProducerEpoch
}

// produce sends one batch of n records and returns the partition answer.
func (p *rawProducer) produce(topic string, pid int64, epoch int16, seq int32, n int, tag string) kmsg.ProduceResponseTopicPartition {
	recs := make([]records.Record, n)
	for i := range recs {
		recs[i] = records.Record{Value: fmt.Appendf(nil, "%s-%d", tag, i)}
	}
	batch := records.BuildBatch(records.BatchSpec{BaseTimestamp: time.Now().UnixMilli(), ProducerID: pid,
		ProducerEpoch: epoch, BaseSequence: seq}, recs...)
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := p.request(req).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0]
}

// TestSequenceChecks drives the producer state through the wire: a
// duplicate gets its original offset (also after a restart), a gap gets
// OUT_OF_ORDER_SEQUENCE_NUMBER, an old epoch INVALID_PRODUCER_EPOCH, and an
// unknown producer id is accepted at any sequence.
func TestSequenceChecks(t *testing.T) {
	b := newBroker(t)
	createTopic(t, b, "seq", 1)
	p := &rawProducer{t: t, b: b}
	defer func() {
		if p.conn != nil {
			p.conn.Close()
		}
	}()
	pid, epoch := p.initPID()
	expect := func(what string, got kmsg.ProduceResponseTopicPartition, code *kerr.Error, offset int64) {
		t.Helper()
		if got.ErrorCode != errCode(code) || (code == nil && got.BaseOffset != offset) {
			t.Fatalf("%s: error %v offset %d, want %v offset %d", what, kerr.ErrorForCode(got.ErrorCode), got.BaseOffset, code, offset)
		}
	}
	expect("first", p.produce("seq", pid, epoch, 0, 3, "a"), nil, 0)
	expect("second", p.produce("seq", pid, epoch, 3, 2, "b"), nil, 3)
	expect("duplicate of first", p.produce("seq", pid, epoch, 0, 3, "a"), nil, 0)
	expect("duplicate of second", p.produce("seq", pid, epoch, 3, 2, "b"), nil, 3)
	expect("gap", p.produce("seq", pid, epoch, 7, 1, "gap"), kerr.OutOfOrderSequenceNumber, 0)
	expect("next", p.produce("seq", pid, epoch, 5, 1, "c"), nil, 5)

	p.conn.Close()
	p.conn = nil
	b.Restart()
	expect("duplicate after restart", p.produce("seq", pid, epoch, 5, 1, "c"), nil, 5)
	expect("next after restart", p.produce("seq", pid, epoch, 6, 1, "d"), nil, 6)
	expect("new epoch not at 0", p.produce("seq", pid, epoch+1, 7, 1, "e"), kerr.OutOfOrderSequenceNumber, 0)
	expect("new epoch", p.produce("seq", pid, epoch+1, 0, 1, "e"), nil, 7)
	expect("old epoch", p.produce("seq", pid, epoch, 7, 1, "f"), kerr.InvalidProducerEpoch, 0)
	expect("unknown producer id", p.produce("seq", pid+500, 0, 42, 1, "g"), nil, 8)

	// A second restart: the state comes from the snapshot written at the
	// first restart's close plus the log after it.
	expect("after", p.produce("seq", pid, epoch+1, 1, 2, "h"), nil, 9)
	p.conn.Close()
	p.conn = nil
	b.Restart()
	expect("duplicate after second restart", p.produce("seq", pid, epoch+1, 1, 2, "h"), nil, 9)
	if n := len(readAll(t, b, "seq", false)); n != 11 {
		t.Fatalf("topic holds %d records, want 11", n)
	}
}

func errCode(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}

// TestIdempotentRestart: franz-go's idempotent producer keeps producing
// while the broker restarts; every record lands exactly once.
func TestIdempotentRestart(t *testing.T) {
	b := newBroker(t)
	createTopic(t, b, "idem", 3)
	cl := newClient(t, b, kgo.DefaultProduceTopic("idem"), kgo.RecordRetries(1000),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.ProducerLinger(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 3000
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []error
	for i := range n {
		if i == n/3 || i == 2*n/3 {
			b.Restart()
		}
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%17), Value: fmt.Appendf(nil, "v%d", i)}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				failed = append(failed, err)
				mu.Unlock()
			}
		})
		if i%100 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d produces failed, first: %v", len(failed), errors.Join(failed[0]))
	}
	got := values(readAll(t, b, "idem", false))
	if d := dups(got); len(d) > 0 || len(got) != n {
		t.Fatalf("%d distinct of %d records, duplicates: %v", len(got), n, d)
	}
}

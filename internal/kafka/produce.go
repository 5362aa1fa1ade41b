package kafka

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/records"
)

// Produce versions 0-2 carry message sets v0/v1, which Herald does not
// store. They are advertised anyway and answered UNSUPPORTED_VERSION:
// librdkafka turns compression off when a broker's Produce minimum is above
// 0, so advertising 3 would cost every librdkafka client its compression.
const minStoredProduceVersion = 3

// durableWait is an append whose answer waits for it to be durable.
type durableWait struct {
	a   broker.Appended
	out *kmsg.ProduceResponseTopicPartition
}

// handleProduce appends each partition's batch in request order, on the
// connection's reader goroutine, so pipelined requests land in order. For
// acks=-1 on a topic with durability always the answer waits for fsync in
// a later goroutine; appends from the requests behind it share that fsync.
func handleProduce(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	now := time.Now()
	reqErr := s.produceAccess(r, req)
	var waits []durableWait
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		ot := &resp.Topics[i]
		*ot = kmsg.NewProduceResponseTopic()
		ot.Topic, ot.TopicID = rt.Topic, rt.TopicID
		var (
			t    *broker.Topic
			terr error
		)
		if reqErr != nil {
			terr = reqErr
		} else {
			t, terr = s.produceTopic(r, rt)
		}
		ot.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			op := &ot.Partitions[j]
			*op = kmsg.NewProduceResponseTopicPartition()
			op.Partition = rp.Partition
			if terr != nil {
				op.ErrorCode, op.ErrorMessage = broker.Code(terr)
				op.BaseOffset = -1
				continue
			}
			if w, ok := s.producePartition(t, rp, op, req.Acks, now); ok {
				waits = append(waits, w)
			}
		}
	}
	if req.Acks == 0 {
		// The producer hears nothing, so an error closes the connection,
		// as Kafka does: the client sees that and refreshes metadata.
		if err := firstProduceError(resp); err != nil {
			return nil, fmt.Errorf("acks=0 produce failed: %w", err)
		}
		r.noReply()
		return nil, nil
	}
	if len(waits) == 0 {
		return resp, nil
	}
	// The later goroutine leads the first partition's fsync itself; the
	// others' flushers sync at the same time rather than one after another.
	for i := range waits[1:] {
		waits[1+i].a.SyncSoon()
	}
	r.later(func() kmsg.Response {
		for i := range waits {
			w := &waits[i]
			if err := w.a.Durable(); err != nil {
				// Logged once per partition, not per request.
				w.out.ErrorCode, w.out.ErrorMessage = broker.Code(err)
				w.out.BaseOffset = -1
			}
		}
		return resp
	})
	return nil, nil
}

func firstProduceError(resp *kmsg.ProduceResponse) error {
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// produceAccess checks what a produce request asks of its transactional
// id or the cluster, as Kafka's handleProduceRequest: a transactional
// batch needs WRITE on the request's transactional id, an idempotent one
// IDEMPOTENT_WRITE on the cluster. A denial answers every partition. The
// batches' headers are read in place; nothing is allocated.
func (s *Server) produceAccess(r *request, req *kmsg.ProduceRequest) *kerr.Error {
	transactional, idempotent := batchKinds(req)
	switch {
	case transactional && req.TransactionID == nil:
		return kerr.TransactionalIDAuthorizationFailed
	case transactional:
		return s.access(r, access.Write, access.TransactionalID, *req.TransactionID)
	case idempotent:
		return s.accessCluster(r, access.IdempotentWrite)
	}
	return nil
}

// batchKinds reports whether any partition's batch is transactional, and
// whether any has a producer id (idempotent). Batches too short or of
// another magic count as neither; the append refuses them.
func batchKinds(req *kmsg.ProduceRequest) (transactional, idempotent bool) {
	for i := range req.Topics {
		for j := range req.Topics[i].Partitions {
			b := req.Topics[i].Partitions[j].Records
			if len(b) < records.HeaderSize || records.Header(b).Magic() != records.Magic {
				continue
			}
			h := records.Header(b)
			transactional = transactional || h.IsTransactional()
			idempotent = idempotent || h.ProducerID() >= 0
		}
	}
	return transactional, idempotent
}

// produceTopic resolves a request topic by name, or by id from v13, and
// checks WRITE on it (before its existence, by name, so that names do not
// leak). The internal topics are refused as Kafka refuses them: only
// their coordinators write them.
func (s *Server) produceTopic(r *request, rt *kmsg.ProduceRequestTopic) (*broker.Topic, error) {
	if r.version < minStoredProduceVersion {
		return nil, kerr.UnsupportedVersion
	}
	if r.version >= 13 {
		t := s.b.TopicByID(rt.TopicID)
		if t == nil {
			return nil, kerr.UnknownTopicID
		}
		if err := s.access(r, access.Write, access.Topic, t.Name); err != nil {
			return nil, err
		}
		return t, broker.RefuseProduce(t.Name)
	}
	if err := s.access(r, access.Write, access.Topic, rt.Topic); err != nil {
		return nil, err
	}
	if t := s.b.Topic(rt.Topic); t != nil {
		return t, broker.RefuseProduce(t.Name)
	}
	if broker.ValidateTopicName(rt.Topic) != nil {
		return nil, kerr.InvalidTopicException
	}
	return nil, kerr.UnknownTopicOrPartition
}

// producePartition appends one batch and fills op; it returns a wait when
// the answer must wait for the batch to be durable (the partition says
// so, from the topic's durability and the acks).
func (s *Server) producePartition(t *broker.Topic, rp *kmsg.ProduceRequestTopicPartition,
	op *kmsg.ProduceResponseTopicPartition, acks int16, now time.Time) (durableWait, bool) {
	p := t.Partition(rp.Partition)
	if p == nil {
		op.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return durableWait{}, false
	}
	ack, ok := ackOf(acks)
	if !ok {
		op.ErrorCode = kerr.InvalidRequiredAcks.Code
		return durableWait{}, false
	}
	a, err := p.Append(rp.Records, now, ack)
	if err != nil {
		op.ErrorCode, op.ErrorMessage = broker.Code(err)
		op.BaseOffset = -1
		return durableWait{}, false
	}
	op.BaseOffset, op.LogAppendTime, op.LogStartOffset = a.BaseOffset, a.LogAppendTime, a.LogStartOffset
	return durableWait{a: a, out: op}, a.Wait
}

// ackOf maps a produce request's acks to what the partition is told.
func ackOf(acks int16) (broker.Ack, bool) {
	switch acks {
	case 0:
		return broker.AckNone, true
	case 1:
		return broker.AckLeader, true
	case -1:
		return broker.AckAll, true
	}
	return 0, false
}

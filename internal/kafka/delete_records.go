package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/broker"
	hlog "github.com/heraldhq/herald/internal/log"
)

// handleDeleteRecords moves partitions' log start offsets forward; offset
// -1 means the high watermark. It needs DELETE on each topic.
func handleDeleteRecords(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		ot := kmsg.NewDeleteRecordsResponseTopic()
		ot.Topic = rt.Topic
		t := s.b.Topic(rt.Topic)
		denied := s.access(r, access.Delete, access.Topic, rt.Topic)
		for _, rp := range rt.Partitions {
			if denied != nil {
				op := kmsg.NewDeleteRecordsResponseTopicPartition()
				op.Partition, op.LowWatermark, op.ErrorCode = rp.Partition, -1, denied.Code
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			ot.Partitions = append(ot.Partitions, deleteRecords(t, rp))
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp, nil
}

func deleteRecords(t *broker.Topic, rp kmsg.DeleteRecordsRequestTopicPartition) kmsg.DeleteRecordsResponseTopicPartition {
	op := kmsg.NewDeleteRecordsResponseTopicPartition()
	op.Partition, op.LowWatermark = rp.Partition, -1
	var p *broker.Partition
	if t != nil {
		p = t.Partition(rp.Partition)
	}
	if p == nil {
		op.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return op
	}
	if err := broker.RefuseProtected(t.Name, "delete records of"); err != nil {
		// As Kafka: INVALID_TOPIC_EXCEPTION for the internal topics.
		op.ErrorCode, _ = broker.Code(err)
		return op
	}
	before := rp.Offset
	if before == -1 {
		before = p.HighWatermark()
	}
	start, err := p.DeleteRecords(before)
	switch {
	case err == nil:
		op.LowWatermark = start
	case errors.Is(err, hlog.ErrOffsetOutOfRange) || before < 0:
		op.ErrorCode = kerr.OffsetOutOfRange.Code
	default:
		op.ErrorCode, _ = broker.Code(err)
	}
	return op
}

package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/broker"
)

// Special ListOffsets timestamps. Part of the protocol.
const (
	listLatest        = -1
	listEarliest      = -2
	listMaxTimestamp  = -3
	listEarliestLocal = -4 // tiered storage; all of Herald's log is local
)

// handleListOffsets answers earliest, latest, max-timestamp and
// by-timestamp lookups. Latest is the high watermark, or the last stable
// offset for read_committed. It needs DESCRIBE on each topic.
func handleListOffsets(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		ot := &resp.Topics[i]
		*ot = kmsg.NewListOffsetsResponseTopic()
		ot.Topic = rt.Topic
		t := s.b.Topic(rt.Topic)
		denied := s.access(r, access.Describe, access.Topic, rt.Topic)
		ot.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			if denied != nil {
				ot.Partitions[j] = listOffsetError(rt.Partitions[j].Partition, denied)
				continue
			}
			ot.Partitions[j] = listOffset(t, &rt.Partitions[j])
			if op := &ot.Partitions[j]; req.IsolationLevel == readCommitted && rt.Partitions[j].Timestamp == listLatest &&
				op.ErrorCode == 0 {
				lso, err := t.Partition(op.Partition).LastStable()
				op.Offset = min(lso, op.Offset)
				op.ErrorCode, _ = broker.Code(err)
			}
		}
	}
	return resp, nil
}

// listOffsetError is a partition's answer when the topic cannot be
// listed.
func listOffsetError(partition int32, err *kerr.Error) kmsg.ListOffsetsResponseTopicPartition {
	op := kmsg.NewListOffsetsResponseTopicPartition()
	op.Partition, op.Timestamp, op.Offset, op.ErrorCode = partition, -1, -1, err.Code
	return op
}

func listOffset(t *broker.Topic, rp *kmsg.ListOffsetsRequestTopicPartition) kmsg.ListOffsetsResponseTopicPartition {
	op := kmsg.NewListOffsetsResponseTopicPartition()
	op.Partition = rp.Partition
	op.Timestamp, op.Offset = -1, -1
	var p *broker.Partition
	if t != nil {
		p = t.Partition(rp.Partition)
	}
	switch {
	case p == nil:
		op.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return op
	case rp.CurrentLeaderEpoch > 0:
		op.ErrorCode = kerr.UnknownLeaderEpoch.Code
		return op
	}
	op.LeaderEpoch = 0
	l := p
	switch ts := rp.Timestamp; {
	case ts == listLatest:
		op.Offset = l.HighWatermark()
	case ts == listEarliest || ts == listEarliestLocal:
		op.Offset = l.LogStartOffset()
	case ts == listMaxTimestamp:
		off, mts, ok, err := l.MaxTimestamp()
		if err != nil {
			op.ErrorCode, _ = broker.Code(err)
		} else if ok {
			op.Offset, op.Timestamp = off, mts
		}
	case ts >= 0:
		off, rts, ok, err := l.OffsetForTime(ts)
		if err != nil {
			op.ErrorCode, _ = broker.Code(err)
		} else if ok {
			op.Offset, op.Timestamp = off, rts
		}
	}
	return op
}

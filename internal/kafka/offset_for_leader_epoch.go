package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/broker"
)

// handleOffsetForLeaderEpoch answers consumers checking for truncation.
// Every partition has had one leader epoch, 0, so epoch 0 ends at the log
// end offset and later epochs are unknown (-1, -1), as Kafka answers. It
// needs DESCRIBE on each topic.
func handleOffsetForLeaderEpoch(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		ot := kmsg.NewOffsetForLeaderEpochResponseTopic()
		ot.Topic = rt.Topic
		t := s.b.Topic(rt.Topic)
		denied := s.access(r, access.Describe, access.Topic, rt.Topic)
		for _, rp := range rt.Partitions {
			op := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			op.Partition, op.LeaderEpoch, op.EndOffset = rp.Partition, -1, -1
			var p *broker.Partition
			if t != nil {
				p = t.Partition(rp.Partition)
			}
			switch {
			case denied != nil:
				op.ErrorCode = denied.Code
			case p == nil:
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.CurrentLeaderEpoch > 0:
				op.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case rp.LeaderEpoch <= 0:
				op.LeaderEpoch, op.EndOffset = 0, p.LogEndOffset()
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp, nil
}

package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/group"
	"github.com/heraldhq/herald/internal/txn"
)

// handleTxnOffsetCommit stores offsets in a transaction; the group sees
// them only when the transaction commits. It needs WRITE on the
// transactional id and READ on the group (else every partition answers
// the denial) and READ on each topic (TOPIC_AUTHORIZATION_FAILED for its
// partitions; the others are committed).
func handleTxnOffsetCommit(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.TxnOffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	oc := txn.OffsetCommit{
		TransactionalID: req.TransactionalID, Group: req.Group, ProducerID: req.ProducerID, Epoch: req.ProducerEpoch,
		Generation: -1, Offsets: map[group.TopicPartition]group.Offset{}, Fenced: fencedErr(r.version, 3),
	}
	if r.version >= 3 {
		oc.Generation, oc.MemberID, oc.InstanceID = req.Generation, req.MemberID, deref(req.InstanceID)
	}
	codes := make([][]int16, len(req.Topics))
	denied := s.access(r, access.Write, access.TransactionalID, req.TransactionalID)
	if denied == nil {
		denied = s.access(r, access.Read, access.Group, req.Group)
	}
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
		tdenied := denied
		if tdenied == nil {
			tdenied = s.access(r, access.Read, access.Topic, t.Topic)
		}
		topic := s.b.Topic(t.Topic)
		for j, p := range t.Partitions {
			switch {
			case tdenied != nil:
				codes[i][j] = tdenied.Code
			case topic == nil || topic.Partition(p.Partition) == nil:
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
			case p.Metadata != nil && len(*p.Metadata) > maxOffsetMetadata:
				codes[i][j] = kerr.OffsetMetadataTooLarge.Code
			default:
				le := p.LeaderEpoch
				if r.version < 2 {
					le = -1
				}
				oc.Offsets[group.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = group.Offset{
					Offset: p.Offset, LeaderEpoch: le, Metadata: deref(p.Metadata),
				}
			}
		}
	}
	fill := func(err *kerr.Error) kmsg.Response {
		for i, t := range req.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for j, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, codes[i][j]
				if rp.ErrorCode == 0 && err != nil {
					rp.ErrorCode = err.Code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	if denied != nil {
		return fill(nil), nil
	}
	if s.txn == nil {
		return fill(kerr.CoordinatorNotAvailable), nil
	}
	// Ordered with the connection's other commits, as OffsetCommit is.
	r.commitInOrder(func() kmsg.Response { return fill(s.txn.CommitOffsets(oc)) })
	return nil, nil
}

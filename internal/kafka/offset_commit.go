package kafka

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/group"
)

// maxOffsetMetadata is offset.metadata.max.bytes.
const maxOffsetMetadata = 4096

// handleOffsetCommit checks the member and generation, then stores the
// offsets in __consumer_offsets; the answer waits for them to be durable.
// A connection's commits are applied in request order. It needs READ on
// the group (else every partition answers GROUP_AUTHORIZATION_FAILED)
// and on each topic (TOPIC_AUTHORIZATION_FAILED for its partitions; the
// others are committed).
func handleOffsetCommit(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	gen, memberID := req.Generation, req.MemberID
	if r.version == 0 {
		gen = -1
	}
	now := time.Now().UnixMilli()
	offs := map[group.TopicPartition]group.Offset{}
	codes := make([][]int16, len(req.Topics))
	gdenied := s.access(r, access.Read, access.Group, req.Group)
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
		var tdenied *kerr.Error
		if gdenied == nil {
			tdenied = s.access(r, access.Read, access.Topic, t.Topic)
		}
		topic := s.b.Topic(t.Topic)
		for j, p := range t.Partitions {
			switch {
			case gdenied != nil:
				codes[i][j] = gdenied.Code
			case tdenied != nil:
				codes[i][j] = tdenied.Code
			case s.groups == nil:
				codes[i][j] = kerr.CoordinatorNotAvailable.Code
			case topic == nil || topic.Partition(p.Partition) == nil:
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
			case p.Metadata != nil && len(*p.Metadata) > maxOffsetMetadata:
				codes[i][j] = kerr.OffsetMetadataTooLarge.Code
			default:
				le := p.LeaderEpoch
				if r.version < 6 {
					le = -1
				}
				offs[group.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = group.Offset{
					Offset: p.Offset, LeaderEpoch: le, Metadata: deref(p.Metadata), CommitTime: now,
				}
			}
		}
	}
	groupID, instanceID := req.Group, deref(req.InstanceID)
	topics := req.Topics
	fill := func(err *kerr.Error) kmsg.Response {
		for i, t := range topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for j, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
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
	if gdenied != nil {
		return fill(nil), nil
	}
	if s.groups == nil {
		return fill(kerr.CoordinatorNotAvailable), nil
	}
	r.commitInOrder(func() kmsg.Response {
		if err := s.groups.CommitCheck(groupID, memberID, instanceID, gen); err != nil {
			return fill(err)
		}
		if err := s.groups.Commit(groupID, offs); err != nil {
			return fill(commitErr(s, groupID, err))
		}
		return fill(nil)
	})
	return nil, nil
}

// commitErr is the answer to a commit whose write failed. A storage error
// (a full disk) is NOT_COORDINATOR, as Kafka's group coordinator answers
// it (GroupCoordinatorService maps KafkaStorageException so): the client
// looks the coordinator up again and retries, and the commit succeeds
// once space returns. The broker has logged it, once per partition.
// Anything else (the coordinator closing) is COORDINATOR_NOT_AVAILABLE.
func commitErr(s *Server, group string, err error) *kerr.Error {
	if broker.IsStorageError(err) || errors.Is(err, kerr.KafkaStorageError) {
		return kerr.NotCoordinator
	}
	s.logger.Error("offset commit: write failed", "group", group, "err", err)
	return kerr.CoordinatorNotAvailable
}

package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
)

// handleDescribeShareGroupOffsets answers each group's share-partition
// start offsets (all of them when a group names no topics) with the lag
// to the high watermark. It needs DESCRIBE on the group and on each topic.
func handleDescribeShareGroupOffsets(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	for _, rg := range req.Groups {
		og := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
		og.GroupID = rg.GroupID
		if denied := s.access(r, access.Describe, access.Group, rg.GroupID); denied != nil {
			og.ErrorCode = denied.Code
		} else if s.share == nil {
			og.ErrorCode = kerr.CoordinatorNotAvailable.Code
		} else if rg.Topics == nil {
			og.Topics = s.allShareOffsets(r, rg.GroupID)
		} else {
			for _, rt := range rg.Topics {
				og.Topics = append(og.Topics, s.shareOffsetsOf(r, rg.GroupID, rt.Topic, rt.Partitions))
			}
		}
		resp.Groups = append(resp.Groups, og)
	}
	return resp, nil
}

func (s *Server) allShareOffsets(r *request, group string) []kmsg.DescribeShareGroupOffsetsResponseGroupTopic {
	byTopic := map[[16]byte][]int32{}
	var order [][16]byte
	for _, so := range s.share.StartOffsets(group) {
		if _, ok := byTopic[so.Topic]; !ok {
			order = append(order, so.Topic)
		}
		byTopic[so.Topic] = append(byTopic[so.Topic], so.Partition)
	}
	out := []kmsg.DescribeShareGroupOffsetsResponseGroupTopic{}
	for _, id := range order {
		t := s.b.TopicByID(id)
		if t == nil || !s.allowed(r, access.Describe, access.Topic, t.Name) {
			continue
		}
		out = append(out, s.shareOffsetsOf(r, group, t.Name, byTopic[id]))
	}
	return out
}

// shareOffsetsOf answers one topic's partitions: -1 where the group has no
// state, as Kafka.
func (s *Server) shareOffsetsOf(r *request, group, name string, parts []int32) kmsg.DescribeShareGroupOffsetsResponseGroupTopic {
	ot := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
	ot.Topic = name
	denied := s.access(r, access.Describe, access.Topic, name)
	t := s.b.Topic(name)
	if t != nil {
		ot.TopicID = t.ID
	}
	for _, p := range parts {
		op := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
		op.Partition, op.StartOffset, op.LeaderEpoch, op.Lag = p, -1, -1, -1
		switch {
		case denied != nil:
			op.ErrorCode = denied.Code
		case t == nil || t.Partition(p) == nil:
			op.ErrorCode = kerr.UnknownTopicOrPartition.Code
		default:
			if off, ok := s.share.StartOffsetOf(group, t.ID, p); ok {
				op.StartOffset, op.LeaderEpoch = off, 0
				op.Lag = max(t.Partition(p).HighWatermark()-off, 0)
			}
		}
		ot.Partitions = append(ot.Partitions, op)
	}
	return ot
}

// handleAlterShareGroupOffsets sets share-partition start offsets of an
// empty group (NON_EMPTY_GROUP otherwise), creating its state. It needs
// READ on the group and on each topic.
func handleAlterShareGroupOffsets(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AlterShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
	if denied := s.access(r, access.Read, access.Group, req.GroupID); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
	if s.share == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	if s.share.Members(req.GroupID) > 0 {
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		return resp, nil
	}
	r.later(func() kmsg.Response {
		for _, rt := range req.Topics {
			ot := kmsg.NewAlterShareGroupOffsetsResponseTopic()
			ot.Topic = rt.Topic
			denied := s.access(r, access.Read, access.Topic, rt.Topic)
			t := s.b.Topic(rt.Topic)
			if t != nil {
				ot.TopicID = t.ID
			}
			for _, rp := range rt.Partitions {
				op := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
				op.Partition = rp.Partition
				switch {
				case denied != nil:
					op.ErrorCode = denied.Code
				case t == nil || t.Partition(rp.Partition) == nil:
					op.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case rp.StartOffset < -1:
					op.ErrorCode = kerr.InvalidRequest.Code
				default:
					op.ErrorCode = shareCode(s.share.AlterStartOffset(req.GroupID, t.ID, rp.Partition, s.resolveStart(t.Partition(rp.Partition).HighWatermark(), rp.StartOffset)))
				}
				ot.Partitions = append(ot.Partitions, op)
			}
			resp.Topics = append(resp.Topics, ot)
		}
		return resp
	})
	return nil, nil
}

// resolveStart is an altered start offset: -1 means the latest.
func (s *Server) resolveStart(hw, off int64) int64 {
	if off == -1 {
		return hw
	}
	return off
}

// handleDeleteShareGroupOffsets deletes an empty group's state of whole
// topics. It needs DELETE on the group and READ on each topic.
func handleDeleteShareGroupOffsets(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
	if denied := s.access(r, access.Delete, access.Group, req.GroupID); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
	if s.share == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	if !s.share.Has(req.GroupID) {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp, nil
	}
	if s.share.Members(req.GroupID) > 0 {
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		return resp, nil
	}
	r.later(func() kmsg.Response {
		for _, rt := range req.Topics {
			ot := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
			ot.Topic = rt.Topic
			t := s.b.Topic(rt.Topic)
			switch denied := s.access(r, access.Read, access.Topic, rt.Topic); {
			case denied != nil:
				ot.ErrorCode = denied.Code
			case t == nil:
				ot.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				ot.TopicID = t.ID
				ot.ErrorCode = shareCode(s.share.DeleteStartOffsets(req.GroupID, t.ID))
			}
			resp.Topics = append(resp.Topics, ot)
		}
		return resp
	})
	return nil, nil
}

package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/group"
)

// handleOffsetDelete deletes committed offsets of partitions no member is
// subscribed to. It needs DELETE on the group (GROUP_AUTHORIZATION_FAILED)
// and READ on each topic (TOPIC_AUTHORIZATION_FAILED for its partitions,
// which are left alone).
func handleOffsetDelete(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if denied := s.access(r, access.Delete, access.Group, req.Group); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
	if s.groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	var tps []group.TopicPartition
	denied := map[string]bool{}
	for _, t := range req.Topics {
		if s.access(r, access.Read, access.Topic, t.Topic) != nil {
			denied[t.Topic] = true
			continue
		}
		for _, p := range t.Partitions {
			tps = append(tps, group.TopicPartition{Topic: t.Topic, Partition: p.Partition})
		}
	}
	groupID, topics := req.Group, req.Topics
	r.later(func() kmsg.Response {
		errs, gerr := s.groups.DeleteOffsets(groupID, tps, subscribedTopics)
		if gerr != nil {
			resp.ErrorCode = gerr.Code
			return resp
		}
		for _, t := range topics {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = errCode(errs[group.TopicPartition{Topic: t.Topic, Partition: p.Partition}])
				if denied[t.Topic] {
					rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	})
	return nil, nil
}

// subscribedTopics parses consumer protocol member metadata.
func subscribedTopics(meta []byte) ([]string, bool) {
	var m kmsg.ConsumerMemberMetadata
	if err := m.ReadFrom(meta); err != nil {
		return nil, false
	}
	return m.Topics, true
}

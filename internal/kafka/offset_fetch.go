package kafka

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/group"
)

// fetchedPartition is one answer of OffsetFetch.
type fetchedPartition struct {
	partition   int32
	offset      int64
	leaderEpoch int32
	metadata    *string
}

// fetchedTopic is a topic's answers.
type fetchedTopic struct {
	topic string
	parts []fetchedPartition
}

// committedFor answers one group: the named topics' partitions (all
// committed ones when topics is nil). A group or partition without a
// commit answers offset -1, not an error: librdkafka relies on that.
func (s *Server) committedFor(groupID string, topics []kmsg.OffsetFetchRequestTopic) ([]fetchedTopic, *kerr.Error) {
	if s.groups == nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	offs, _ := s.groups.Committed(groupID)
	if topics == nil {
		byTopic := map[string][]int32{}
		for tp := range offs {
			byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
		}
		for t, ps := range byTopic {
			slices.Sort(ps)
			topics = append(topics, kmsg.OffsetFetchRequestTopic{Topic: t, Partitions: ps})
		}
		slices.SortFunc(topics, func(a, b kmsg.OffsetFetchRequestTopic) int { return strings.Compare(a.Topic, b.Topic) })
	}
	out := make([]fetchedTopic, 0, len(topics))
	for _, t := range topics {
		ft := fetchedTopic{topic: t.Topic}
		for _, p := range t.Partitions {
			fp := fetchedPartition{partition: p, offset: -1, leaderEpoch: -1}
			if o, ok := offs[group.TopicPartition{Topic: t.Topic, Partition: p}]; ok {
				fp.offset, fp.leaderEpoch, fp.metadata = o.Offset, o.LeaderEpoch, kmsg.StringPtr(o.Metadata)
			}
			ft.parts = append(ft.parts, fp)
		}
		out = append(out, ft)
	}
	return out, nil
}

// handleOffsetFetch answers committed offsets: one group (v0-7) or a
// batch of groups (v8+).
func handleOffsetFetch(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if r.version < 8 {
		topics, err := s.committedFor(req.Group, req.Topics)
		resp.ErrorCode = errCode(err)
		for _, ft := range topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = ft.topic
			for _, fp := range ft.parts {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = fp.partition, fp.offset, fp.leaderEpoch, fp.metadata
				rp.ErrorCode = errCode(err)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	for _, g := range req.Groups {
		var ts []kmsg.OffsetFetchRequestTopic
		if g.Topics != nil {
			ts = make([]kmsg.OffsetFetchRequestTopic, 0, len(g.Topics))
			for _, t := range g.Topics {
				ts = append(ts, kmsg.OffsetFetchRequestTopic{Topic: t.Topic, Partitions: t.Partitions})
			}
		}
		topics, err := s.committedFor(g.Group, ts)
		rg := kmsg.NewOffsetFetchResponseGroup()
		rg.Group, rg.ErrorCode = g.Group, errCode(err)
		for _, ft := range topics {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = ft.topic
			for _, fp := range ft.parts {
				rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = fp.partition, fp.offset, fp.leaderEpoch, fp.metadata
				rt.Partitions = append(rt.Partitions, rp)
			}
			rg.Topics = append(rg.Topics, rt)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}

package kafka

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/group"
)

// fetchedPartition is one answer of OffsetFetch.
type fetchedPartition struct {
	partition   int32
	offset      int64
	leaderEpoch int32
	metadata    *string
	errCode     int16 // UNSTABLE_OFFSET_COMMIT while a transaction holds one
}

// fetchedTopic is a topic's answers.
type fetchedTopic struct {
	topic string
	parts []fetchedPartition
}

// committedFor answers one group: the named topics' partitions (all
// committed ones when topics is nil). A group or partition without a
// commit answers offset -1, not an error: librdkafka relies on that.
//
// With requireStable (KIP-447), a partition for which an open transaction
// holds an offset answers UNSTABLE_OFFSET_COMMIT: the client retries
// rather than start from an offset the transaction is about to move.
//
// It needs DESCRIBE on the group: without it every named partition
// answers GROUP_AUTHORIZATION_FAILED. A named topic r may not DESCRIBE
// answers TOPIC_AUTHORIZATION_FAILED; with all topics asked for, those
// are left out, as Kafka leaves them out.
func (s *Server) committedFor(r *request, groupID string, topics []kmsg.OffsetFetchRequestTopic, requireStable bool) ([]fetchedTopic, *kerr.Error) {
	if denied := s.access(r, access.Describe, access.Group, groupID); denied != nil {
		return deniedTopics(topics, denied), denied
	}
	if s.groups == nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	offs, _ := s.groups.Committed(groupID)
	all := topics == nil
	if all {
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
	for i, t := range topics {
		if all && !s.allowed(r, access.Describe, access.Topic, t.Topic) {
			continue
		}
		if !all {
			if denied := s.access(r, access.Describe, access.Topic, t.Topic); denied != nil {
				out = append(out, deniedTopics(topics[i:i+1], denied)...)
				continue
			}
		}
		ft := fetchedTopic{topic: t.Topic}
		for _, p := range t.Partitions {
			fp := fetchedPartition{partition: p, offset: -1, leaderEpoch: -1}
			if o, ok := offs[group.TopicPartition{Topic: t.Topic, Partition: p}]; ok {
				fp.offset, fp.leaderEpoch, fp.metadata = o.Offset, o.LeaderEpoch, kmsg.StringPtr(o.Metadata)
			}
			if requireStable && s.txn != nil && s.txn.Pending(groupID, group.TopicPartition{Topic: t.Topic, Partition: p}) {
				fp.errCode = kerr.UnstableOffsetCommit.Code
			}
			ft.parts = append(ft.parts, fp)
		}
		out = append(out, ft)
	}
	return out, nil
}

// deniedTopics answers every named partition with err (offset -1).
func deniedTopics(topics []kmsg.OffsetFetchRequestTopic, err *kerr.Error) []fetchedTopic {
	out := make([]fetchedTopic, 0, len(topics))
	for _, t := range topics {
		ft := fetchedTopic{topic: t.Topic}
		for _, p := range t.Partitions {
			ft.parts = append(ft.parts, fetchedPartition{partition: p, offset: -1, leaderEpoch: -1, errCode: err.Code})
		}
		out = append(out, ft)
	}
	return out
}

// handleOffsetFetch answers committed offsets: one group (v0-7) or a
// batch of groups (v8+). It sees the commits sent before it on the
// connection, even those not answered yet.
func handleOffsetFetch(s *Server, r *request) (kmsg.Response, error) {
	if r.commitsPending() {
		r.afterCommits(func() kmsg.Response { return s.offsetFetch(r) })
		return nil, nil
	}
	return s.offsetFetch(r), nil
}

func (s *Server) offsetFetch(r *request) kmsg.Response {
	req, version := r.kreq.(*kmsg.OffsetFetchRequest), r.version
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if version < 8 {
		topics, err := s.committedFor(r, req.Group, req.Topics, version >= 7 && req.RequireStable)
		resp.ErrorCode = errCode(err)
		for _, ft := range topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = ft.topic
			for _, fp := range ft.parts {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = fp.partition, fp.offset, fp.leaderEpoch, fp.metadata
				rp.ErrorCode = errCode(err)
				if fp.errCode != 0 {
					rp.ErrorCode = fp.errCode
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, g := range req.Groups {
		var ts []kmsg.OffsetFetchRequestTopic
		if g.Topics != nil {
			ts = make([]kmsg.OffsetFetchRequestTopic, 0, len(g.Topics))
			for _, t := range g.Topics {
				ts = append(ts, kmsg.OffsetFetchRequestTopic{Topic: t.Topic, Partitions: t.Partitions})
			}
		}
		topics, err := s.committedFor(r, g.Group, ts, req.RequireStable)
		rg := kmsg.NewOffsetFetchResponseGroup()
		rg.Group, rg.ErrorCode = g.Group, errCode(err)
		for _, ft := range topics {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = ft.topic
			for _, fp := range ft.parts {
				rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = fp.partition, fp.offset, fp.leaderEpoch, fp.metadata
				rp.ErrorCode = fp.errCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			rg.Topics = append(rg.Topics, rt)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

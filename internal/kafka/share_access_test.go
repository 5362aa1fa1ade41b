package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
)

// shareGroupG is a grant on share group "sg".
func shareGroupG(op access.Operation) grant { return anon(op, access.Group, "sg") }

func shareJoin(t *testing.T, c *client, member string) {
	t.Helper()
	mustAnswer(t, c, shareHeartbeatReq(member), func(r kmsg.Response) int16 {
		return r.(*kmsg.ShareGroupHeartbeatResponse).ErrorCode
	})
}

func shareHeartbeatReq(member string) *kmsg.ShareGroupHeartbeatRequest {
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.Version = 1
	req.GroupID, req.MemberID, req.SubscribedTopicNames = "sg", member, []string{"t"}
	return req
}

// shareSeamCases are the share-group APIs of the access matrix: READ on
// the group and on the topics for the heartbeat (DESCRIBE on subscribed
// topics), fetch, acknowledge and altering offsets; DESCRIBE for the
// describes; DELETE on the group to delete offsets, as Kafka's KafkaApis.
func shareSeamCases() []seamCase {
	// Cases run in parallel, each on its own broker: each keeps its own
	// topic id.
	var fetchTopicID, ackTopicID [16]byte
	ackEpoch := int32(1)
	return []seamCase{
		{
			name: "ShareGroupHeartbeat", needs: []grant{shareGroupG(access.Read), topicT(access.Describe)},
			req:  func(*fixture) kmsg.Request { return shareHeartbeatReq("m1") },
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ShareGroupHeartbeatResponse).ErrorCode },
		},
		{
			name: "ShareGroupDescribe", needs: []grant{shareGroupG(access.Describe)},
			setup: func(t *testing.T, c *client, _ *fixture) { shareJoin(t, c, "m1") },
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrShareGroupDescribeRequest()
				req.Version = 1
				req.GroupIDs = []string{"sg"}
				return req
			},
			code: func(r kmsg.Response) int16 { return r.(*kmsg.ShareGroupDescribeResponse).Groups[0].ErrorCode },
		},
		{
			name: "ShareFetch", needs: []grant{shareGroupG(access.Read), topicT(access.Read)},
			setup: func(t *testing.T, c *client, _ *fixture) {
				shareJoin(t, c, "m1")
				fetchTopicID = topicIDOf(t, c)
			},
			req:  func(*fixture) kmsg.Request { return shareOpenReq(fetchTopicID) },
			code: shareFetchCode,
		},
		{
			// The session's epoch moves only when the group check
			// passes (code keeps count).
			name: "ShareAcknowledge", needs: []grant{shareGroupG(access.Read), topicT(access.Read)},
			setup: func(t *testing.T, c *client, _ *fixture) {
				cfg := kmsg.NewPtrIncrementalAlterConfigsRequest()
				cfg.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeGroupConfig, ResourceName: "sg",
					Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "share.auto.offset.reset", Value: kmsg.StringPtr("earliest")}}}}
				mustAnswer(t, c, cfg, func(r kmsg.Response) int16 {
					return r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
				})
				shareJoin(t, c, "m1")
				ackTopicID = topicIDOf(t, c)
				mustAnswer(t, c, shareOpenReq(ackTopicID), shareFetchCode) // acquires offset 0
			},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrShareAcknowledgeRequest()
				req.Version = 2
				req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr("sg"), kmsg.StringPtr("m1"), ackEpoch
				req.Topics = []kmsg.ShareAcknowledgeRequestTopic{{TopicID: ackTopicID, Partitions: []kmsg.ShareAcknowledgeRequestTopicPartition{{
					AcknowledgementBatches: []kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch{{FirstOffset: 0, LastOffset: 0, AcknowledgeTypes: []int8{1}}}}}}}
				return req
			},
			code: func(r kmsg.Response) int16 {
				resp := r.(*kmsg.ShareAcknowledgeResponse)
				if resp.ErrorCode != 0 {
					return resp.ErrorCode
				}
				ackEpoch++
				return resp.Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "DescribeShareGroupOffsets", needs: []grant{shareGroupG(access.Describe), topicT(access.Describe)},
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
				req.Groups = []kmsg.DescribeShareGroupOffsetsRequestGroup{{GroupID: "sg",
					Topics: []kmsg.DescribeShareGroupOffsetsRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}}}
				return req
			},
			code: func(r kmsg.Response) int16 {
				g := r.(*kmsg.DescribeShareGroupOffsetsResponse).Groups[0]
				if g.ErrorCode != 0 {
					return g.ErrorCode
				}
				return g.Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "AlterShareGroupOffsets", needs: []grant{shareGroupG(access.Read), topicT(access.Read)},
			req:  func(*fixture) kmsg.Request { return shareAlterReq() },
			code: shareAlterCode,
		},
		{
			name: "DeleteShareGroupOffsets", needs: []grant{shareGroupG(access.Delete), topicT(access.Read)},
			setup: func(t *testing.T, c *client, _ *fixture) { mustAnswer(t, c, shareAlterReq(), shareAlterCode) },
			req: func(*fixture) kmsg.Request {
				req := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
				req.GroupID, req.Topics = "sg", []kmsg.DeleteShareGroupOffsetsRequestTopic{{Topic: "t"}}
				return req
			},
			code: func(r kmsg.Response) int16 {
				resp := r.(*kmsg.DeleteShareGroupOffsetsResponse)
				if resp.ErrorCode != 0 {
					return resp.ErrorCode
				}
				return resp.Topics[0].ErrorCode
			},
		},
	}
}

func topicIDOf(t *testing.T, c *client) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t")}}
	return c.roundTrip(req).(*kmsg.MetadataResponse).Topics[0].TopicID
}

func shareOpenReq(id [16]byte) *kmsg.ShareFetchRequest {
	req := kmsg.NewPtrShareFetchRequest()
	req.Version = 2
	req.GroupID, req.MemberID, req.MaxBytes, req.MaxRecords = kmsg.StringPtr("sg"), kmsg.StringPtr("m1"), 1<<20, 10
	req.Topics = []kmsg.ShareFetchRequestTopic{{TopicID: id, Partitions: []kmsg.ShareFetchRequestTopicPartition{{Partition: 0}}}}
	return req
}

func shareFetchCode(r kmsg.Response) int16 {
	resp := r.(*kmsg.ShareFetchResponse)
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func shareAlterReq() *kmsg.AlterShareGroupOffsetsRequest {
	req := kmsg.NewPtrAlterShareGroupOffsetsRequest()
	req.GroupID = "sg"
	req.Topics = []kmsg.AlterShareGroupOffsetsRequestTopic{{Topic: "t", Partitions: []kmsg.AlterShareGroupOffsetsRequestTopicPartition{{Partition: 0, StartOffset: 0}}}}
	return req
}

func shareAlterCode(r kmsg.Response) int16 {
	resp := r.(*kmsg.AlterShareGroupOffsetsResponse)
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

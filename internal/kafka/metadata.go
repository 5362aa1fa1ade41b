package kafka

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/broker"
)

// handleMetadata describes the one broker and the requested topics (all of
// them for a null list, or an empty one at v0), creating unknown topics when
// the client allows it and the broker auto-creates.
func handleMetadata(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = s.cfg.NodeID, s.cfg.AdvertisedHost, s.cfg.AdvertisedPort
	resp.Brokers = append(resp.Brokers, b)
	cid := s.b.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = s.cfg.NodeID
	resp.AuthorizedOperations = authorizedOps(req.IncludeClusterAuthorizedOperations, clusterOps)

	if req.Topics == nil || (r.version == 0 && len(req.Topics) == 0) {
		for _, t := range s.b.Topics() {
			resp.Topics = append(resp.Topics, s.metadataTopic(t))
		}
		setTopicOps(resp, req.IncludeTopicAuthorizedOperations)
		return resp, nil
	}
	var autoCreate int // topics this request may still create
	if s.b.AutoCreateTopics() && (r.version < 4 || req.AllowAutoTopicCreation) {
		autoCreate = s.cfg.AutoCreatePerRequest
	}
	for _, rt := range req.Topics {
		resp.Topics = append(resp.Topics, s.metadataRequestedTopic(rt, &autoCreate))
	}
	setTopicOps(resp, req.IncludeTopicAuthorizedOperations)
	return resp, nil
}

// setTopicOps answers every topic's authorized operations, as Kafka does
// for each topic it describes (with no authorizer, none is hidden).
func setTopicOps(resp *kmsg.MetadataResponse, asked bool) {
	for i := range resp.Topics {
		resp.Topics[i].AuthorizedOperations = authorizedOps(asked, topicOps)
	}
}

// autoCreateLimiter is a token bucket over topic auto-creation: a burst of
// perSecond creations, refilled at perSecond a second.
type autoCreateLimiter struct {
	perSecond float64
	mu        struct {
		sync.Mutex
		tokens float64 // Invariant: 0 <= tokens <= perSecond
		last   time.Time
	}
}

func newAutoCreateLimiter(perSecond int) *autoCreateLimiter {
	l := &autoCreateLimiter{perSecond: float64(perSecond)}
	l.mu.tokens, l.mu.last = l.perSecond, time.Now()
	return l
}

// allow takes a token if there is one.
func (l *autoCreateLimiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.mu.tokens = min(l.perSecond, l.mu.tokens+now.Sub(l.mu.last).Seconds()*l.perSecond)
	l.mu.last = now
	if l.mu.tokens < 1 {
		return false
	}
	l.mu.tokens--
	return true
}

// metadataRequestedTopic describes one requested topic. An unknown, valid
// name is created when *autoCreate (what the request may still create) and
// the server's rate allow; otherwise it is answered
// UNKNOWN_TOPIC_OR_PARTITION, which clients retry.
func (s *Server) metadataRequestedTopic(rt kmsg.MetadataRequestTopic, autoCreate *int) kmsg.MetadataResponseTopic {
	if rt.Topic == nil { // by id (v10+)
		if t := s.b.TopicByID(rt.TopicID); t != nil {
			return s.metadataTopic(t)
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.TopicID = rt.TopicID
		mt.ErrorCode = kerr.UnknownTopicID.Code
		return mt
	}
	name := *rt.Topic
	t := s.b.Topic(name)
	var err error
	if t == nil {
		if err = broker.ValidateTopicName(name); err == nil {
			err = kerr.UnknownTopicOrPartition
			if *autoCreate > 0 && s.autoCreate.allow() {
				*autoCreate--
				t, err = s.b.AutoCreate(name)
			}
		}
	}
	if t == nil {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = &name
		mt.ErrorCode, _ = broker.Code(err)
		return mt
	}
	return s.metadataTopic(t)
}

func (s *Server) metadataTopic(t *broker.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic, mt.TopicID = &name, t.ID
	mt.IsInternal = broker.IsInternal(name)
	parts := t.Partitions()
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, len(parts))
	replicas := []int32{s.cfg.NodeID}
	for _, p := range parts {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.Leader, mp.LeaderEpoch = p.Index, s.cfg.NodeID, 0
		mp.Replicas, mp.ISR = replicas, replicas
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

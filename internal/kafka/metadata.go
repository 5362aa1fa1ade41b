package kafka

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/broker"
)

// handleMetadata describes the one broker and the requested topics (all of
// them for a null list, or an empty one at v0), creating unknown topics when
// the client allows it and the broker auto-creates.
//
// Access, as Kafka: a listing of all topics shows only those r may
// DESCRIBE; a named topic r may not DESCRIBE answers
// TOPIC_AUTHORIZATION_FAILED (by id, without its name); creating one needs
// CREATE on the cluster or on the topic.
func handleMetadata(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = s.cfg.NodeID, r.c.lis.AdvertisedHost, r.c.lis.AdvertisedPort
	resp.Brokers = append(resp.Brokers, b)
	cid := s.b.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = s.cfg.NodeID
	resp.AuthorizedOperations = s.authorizedOps(r, req.IncludeClusterAuthorizedOperations, access.Cluster, access.ClusterName)
	if req.Topics == nil || (r.version == 0 && len(req.Topics) == 0) {
		s.metadataAllTopics(r, resp)
		s.setTopicOps(r, resp, req.IncludeTopicAuthorizedOperations)
		return resp, nil
	}
	var autoCreate int // topics this request may still create
	if s.b.AutoCreateTopics() && (r.version < 4 || req.AllowAutoTopicCreation) {
		autoCreate = s.cfg.AutoCreatePerRequest
	}
	for _, rt := range req.Topics {
		resp.Topics = append(resp.Topics, s.metadataRequestedTopic(r, rt, &autoCreate))
	}
	s.setTopicOps(r, resp, req.IncludeTopicAuthorizedOperations)
	return resp, nil
}

// metadataAllTopics describes every topic r may DESCRIBE, deciding them
// in one batch; the others are left out, as Kafka leaves them out.
func (s *Server) metadataAllTopics(r *request, resp *kmsg.MetadataResponse) {
	topics := s.b.Topics()
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	ok := s.allowedNames(r, access.Describe, access.Topic, names)
	for i, t := range topics {
		if ok[i] {
			resp.Topics = append(resp.Topics, s.metadataTopic(t))
		}
	}
}

// setTopicOps answers the authorized operations of every topic described
// (those without an error), as Kafka does.
func (s *Server) setTopicOps(r *request, resp *kmsg.MetadataResponse, asked bool) {
	for i := range resp.Topics {
		if mt := &resp.Topics[i]; mt.ErrorCode == 0 && mt.Topic != nil {
			mt.AuthorizedOperations = s.authorizedOps(r, asked, access.Topic, *mt.Topic)
		}
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
// name is created when *autoCreate (what the request may still create),
// r's CREATE permission and the server's rate allow; otherwise it is
// answered UNKNOWN_TOPIC_OR_PARTITION, which clients retry, or
// TOPIC_AUTHORIZATION_FAILED without the permission.
func (s *Server) metadataRequestedTopic(r *request, rt kmsg.MetadataRequestTopic, autoCreate *int) kmsg.MetadataResponseTopic {
	if rt.Topic == nil { // by id (v10+)
		return s.metadataTopicByID(r, rt.TopicID)
	}
	name := *rt.Topic
	if denied := s.access(r, access.Describe, access.Topic, name); denied != nil {
		return metadataTopicError(name, denied)
	}
	t := s.b.Topic(name)
	var err error
	if t == nil {
		if err = broker.ValidateTopicName(name); err == nil {
			err = kerr.UnknownTopicOrPartition
			if *autoCreate > 0 {
				t, err = s.maybeAutoCreate(r, name, autoCreate)
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

// metadataTopicByID describes a topic named by id. One r may not DESCRIBE
// answers TOPIC_AUTHORIZATION_FAILED with neither its name nor its id, as
// Kafka answers.
func (s *Server) metadataTopicByID(r *request, id [16]byte) kmsg.MetadataResponseTopic {
	t := s.b.TopicByID(id)
	if t == nil {
		mt := kmsg.NewMetadataResponseTopic()
		mt.TopicID = id
		mt.ErrorCode = kerr.UnknownTopicID.Code
		return mt
	}
	if denied := s.access(r, access.Describe, access.Topic, t.Name); denied != nil {
		mt := kmsg.NewMetadataResponseTopic()
		mt.ErrorCode = denied.Code
		return mt
	}
	return s.metadataTopic(t)
}

// metadataTopicError is a named topic's answer when it cannot be
// described.
func metadataTopicError(name string, err *kerr.Error) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic, mt.ErrorCode = &name, err.Code
	mt.IsInternal = broker.IsInternal(name)
	return mt
}

// maybeAutoCreate creates name for a Metadata request that may create one
// more topic: it needs CREATE on the cluster or on the topic
// (TOPIC_AUTHORIZATION_FAILED), and a token of the server's rate
// (UNKNOWN_TOPIC_OR_PARTITION without one).
func (s *Server) maybeAutoCreate(r *request, name string, autoCreate *int) (*broker.Topic, error) {
	if s.accessCluster(r, access.Create) != nil {
		if denied := s.access(r, access.Create, access.Topic, name); denied != nil {
			return nil, denied
		}
	}
	if !s.autoCreate.allow() {
		return nil, kerr.UnknownTopicOrPartition
	}
	*autoCreate--
	return s.b.AutoCreate(name)
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

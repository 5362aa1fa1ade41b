package kafka

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/broker"
)

// handleCreateTopics creates each topic, or with ValidateOnly only checks
// it. Herald is one broker: a replication factor other than -1 or 1, or an
// assignment naming another broker, is INVALID_REPLICATION_FACTOR or
// INVALID_REPLICA_ASSIGNMENT.
//
// The request's timeout bounds the whole answer: a create still running
// when it expires is REQUEST_TIMED_OUT and completes in the background
// (Metadata shows the topic once it is done), as in Kafka. A timeout of 0
// or less waits for the creates to finish.
//
// Access, as Kafka: CREATE on the cluster allows every topic, else each
// needs CREATE on itself (TOPIC_AUTHORIZATION_FAILED); the created
// topic's configs are answered only with DESCRIBE_CONFIGS on it (else
// ConfigErrorCode is TOPIC_AUTHORIZATION_FAILED).
func handleCreateTopics(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	deadline := requestDeadline(req.TimeoutMillis)
	clusterCreate := s.allowed(r, access.Create, access.Cluster, access.ClusterName)
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		ot := kmsg.NewCreateTopicsResponseTopic()
		ot.Topic = rt.Topic
		var err error
		switch {
		case seen[rt.Topic] > 1:
			err = &broker.Error{Kafka: kerr.InvalidRequest, Message: fmt.Sprintf("topic %q is listed more than once", rt.Topic)}
		case !clusterCreate && s.access(r, access.Create, access.Topic, rt.Topic) != nil:
			err = kerr.TopicAuthorizationFailed
		default:
			err = s.createTopic(rt, req.ValidateOnly, deadline, &ot)
			s.maybeHideConfigs(r, &ot)
		}
		ot.ErrorCode, ot.ErrorMessage = broker.Code(err)
		if err != nil {
			ot.NumPartitions, ot.ReplicationFactor = -1, -1
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp, nil
}

// requestDeadline is when an admin request with timeoutMs must be
// answered; the zero time for none.
func requestDeadline(timeoutMs int32) time.Time {
	if timeoutMs <= 0 {
		return time.Time{}
	}
	return time.Now().Add(time.Duration(timeoutMs) * time.Millisecond)
}

// untilDeadline is how long is left before deadline: 0 for no deadline,
// and at least a millisecond otherwise (the create then answers
// REQUEST_TIMED_OUT unless it is done at once).
func untilDeadline(deadline time.Time) time.Duration {
	if deadline.IsZero() {
		return 0
	}
	return max(time.Until(deadline), time.Millisecond)
}

func (s *Server) createTopic(rt *kmsg.CreateTopicsRequestTopic, validateOnly bool, deadline time.Time, ot *kmsg.CreateTopicsResponseTopic) error {
	n, err := s.checkAssignment(rt)
	if err != nil {
		return err
	}
	configs := make(map[string]string, len(rt.Configs))
	for _, c := range rt.Configs {
		if c.Value == nil {
			continue
		}
		configs[c.Name] = *c.Value
	}
	t, err := s.b.CreateTopicWithin(untilDeadline(deadline), rt.Topic, n, configs, validateOnly)
	if err != nil {
		return err
	}
	ot.ReplicationFactor = 1
	if t == nil { // validate only
		ot.NumPartitions = n
		if n == -1 {
			ot.NumPartitions = 1
		}
		return nil
	}
	ot.TopicID = t.ID
	ot.NumPartitions = int32(len(t.Partitions()))
	for _, e := range s.b.DescribeConfigs(t) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.Source = e.Name, &e.Value, int8(e.Source)
		ot.Configs = append(ot.Configs, c)
	}
	return nil
}

// maybeHideConfigs takes the configs out of a created topic's answer
// unless r may DESCRIBE_CONFIGS it.
func (s *Server) maybeHideConfigs(r *request, ot *kmsg.CreateTopicsResponseTopic) {
	if len(ot.Configs) == 0 {
		return
	}
	if denied := s.access(r, access.DescribeConfigs, access.Topic, ot.Topic); denied != nil {
		ot.Configs, ot.ConfigErrorCode = nil, denied.Code
	}
}

// checkAssignment returns the partition count the request asks for.
func (s *Server) checkAssignment(rt *kmsg.CreateTopicsRequestTopic) (int32, error) {
	if len(rt.ReplicaAssignment) == 0 {
		if rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1 {
			return 0, &broker.Error{Kafka: kerr.InvalidReplicationFactor,
				Message: fmt.Sprintf("replication factor %d: Herald is one broker, so it must be 1 (or -1 for the default)", rt.ReplicationFactor)}
		}
		return rt.NumPartitions, nil
	}
	if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
		return 0, &broker.Error{Kafka: kerr.InvalidRequest,
			Message: "both a replica assignment and a partition count or replication factor were given"}
	}
	for i, a := range rt.ReplicaAssignment {
		if a.Partition != int32(i) {
			return 0, &broker.Error{Kafka: kerr.InvalidReplicaAssignment, Message: "partitions must be numbered 0..n-1 in order"}
		}
		if len(a.Replicas) != 1 || a.Replicas[0] != s.cfg.NodeID {
			return 0, &broker.Error{Kafka: kerr.InvalidReplicaAssignment,
				Message: fmt.Sprintf("partition %d: replicas must be exactly [%d]", a.Partition, s.cfg.NodeID)}
		}
	}
	return int32(len(rt.ReplicaAssignment)), nil
}

package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/broker"
)

// handleCreatePartitions raises topics' partition counts. An explicit
// assignment must put every new partition on this broker. As for
// CreateTopics, an addition still running when the request's timeout
// expires is REQUEST_TIMED_OUT and completes in the background. Each
// topic needs ALTER.
func handleCreatePartitions(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	deadline := requestDeadline(req.TimeoutMillis)
	for _, rt := range req.Topics {
		ot := kmsg.NewCreatePartitionsResponseTopic()
		ot.Topic = rt.Topic
		var err error
		t := s.b.Topic(rt.Topic)
		switch {
		case s.access(r, access.Alter, access.Topic, rt.Topic) != nil:
			err = kerr.TopicAuthorizationFailed
		case t == nil:
			err = kerr.UnknownTopicOrPartition
		case broker.IsProtected(t.Name):
			err = broker.RefuseProtected(t.Name, "add partitions to")
		case !s.assignmentIsLocal(rt.Assignment):
			err = &broker.Error{Kafka: kerr.InvalidReplicaAssignment, Message: "Herald is one broker: every replica list must be [0]"}
		default:
			_, err = s.b.CreatePartitionsWithin(untilDeadline(deadline), t, rt.Count, req.ValidateOnly)
		}
		ot.ErrorCode, ot.ErrorMessage = broker.Code(err)
		resp.Topics = append(resp.Topics, ot)
	}
	return resp, nil
}

func (s *Server) assignmentIsLocal(as []kmsg.CreatePartitionsRequestTopicAssignment) bool {
	for _, a := range as {
		if len(a.Replicas) != 1 || a.Replicas[0] != s.cfg.NodeID {
			return false
		}
	}
	return true
}

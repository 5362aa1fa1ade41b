package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/broker"
)

// handleDeleteTopics deletes topics by name, or from v6 by name or id.
// The internal topics and the registry's are refused
// (INVALID_TOPIC_EXCEPTION): see broker.IsProtected. Each needs DELETE
// (TOPIC_AUTHORIZATION_FAILED, decided before existence); one named by id
// that r may not DESCRIBE answers that without its name, as Kafka.
func handleDeleteTopics(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	if r.version < 6 {
		for _, name := range req.TopicNames {
			n := name
			resp.Topics = append(resp.Topics, s.deleteTopic(r, &n, [16]byte{}))
		}
		return resp, nil
	}
	for _, rt := range req.Topics {
		resp.Topics = append(resp.Topics, s.deleteTopic(r, rt.Topic, rt.TopicID))
	}
	return resp, nil
}

func (s *Server) deleteTopic(r *request, name *string, id [16]byte) kmsg.DeleteTopicsResponseTopic {
	ot := kmsg.NewDeleteTopicsResponseTopic()
	ot.Topic, ot.TopicID = name, id
	var t *broker.Topic
	var err error = kerr.UnknownTopicOrPartition
	if name != nil {
		if denied := s.access(r, access.Delete, access.Topic, *name); denied != nil {
			ot.ErrorCode = denied.Code
			return ot
		}
		t = s.b.Topic(*name)
	} else {
		t, err = s.b.TopicByID(id), kerr.UnknownTopicID
		if t != nil && s.access(r, access.Describe, access.Topic, t.Name) != nil {
			ot.ErrorCode = kerr.TopicAuthorizationFailed.Code
			return ot
		}
		if t != nil && s.access(r, access.Delete, access.Topic, t.Name) != nil {
			n := t.Name
			ot.Topic, ot.ErrorCode = &n, kerr.TopicAuthorizationFailed.Code
			return ot
		}
	}
	if t != nil {
		n := t.Name
		ot.Topic, ot.TopicID = &n, t.ID
		if err = broker.RefuseProtected(t.Name, "delete"); err == nil {
			err = s.b.DeleteTopic(t)
		}
	}
	ot.ErrorCode, ot.ErrorMessage = broker.Code(err)
	return ot
}

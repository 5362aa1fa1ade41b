package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/broker"
)

// handleAlterConfigs replaces a topic's configs with the given set (the
// non-incremental API: configs not named return to their defaults), the
// dynamic configs of a broker scope, or a share group's configs.
func handleAlterConfigs(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		or := kmsg.NewAlterConfigsResponseResource()
		or.ResourceType, or.ResourceName = rr.ResourceType, rr.ResourceName
		configs := make(map[string]string, len(rr.Configs))
		for _, c := range rr.Configs {
			if c.Value != nil {
				configs[c.Name] = *c.Value
			}
		}
		err := s.alterResource(r, rr.ResourceType, rr.ResourceName, func(t *broker.Topic) error {
			return s.b.SetTopicConfigs(t, configs, req.ValidateOnly)
		}, func() error {
			return s.b.AlterBrokerConfigs(rr.ResourceName, configs, req.ValidateOnly)
		}, func() error {
			return shareConfigErr(s.share.SetConfigs(rr.ResourceName, configs, req.ValidateOnly))
		})
		or.ErrorCode, or.ErrorMessage = broker.Code(err)
		resp.Resources = append(resp.Resources, or)
	}
	return resp, nil
}

// alterResource runs alter on the named topic, brokerAlter on a broker
// scope ("" or this node's id) or group on a group. It needs
// ALTER_CONFIGS on the topic, the cluster or the group.
func (s *Server) alterResource(r *request, typ kmsg.ConfigResourceType, name string, alter func(*broker.Topic) error, brokerAlter, group func() error) error {
	if err := s.configAccess(r, access.AlterConfigs, typ, name); err != nil {
		return err
	}
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t := s.b.Topic(name)
		if t == nil {
			return kerr.UnknownTopicOrPartition
		}
		return alter(t)
	case kmsg.ConfigResourceTypeBroker:
		if err := s.checkBrokerResource(name); err != nil {
			return err
		}
		return brokerAlter()
	case kmsg.ConfigResourceTypeGroupConfig:
		if s.share == nil || name == "" {
			return &broker.Error{Kafka: kerr.InvalidRequest, Message: "group configs need a group name"}
		}
		return group()
	}
	return &broker.Error{Kafka: kerr.InvalidRequest, Message: "unsupported config resource type"}
}

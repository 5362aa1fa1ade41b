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
			return s.alterGroupConfigs(rr.ResourceName, configs, req.ValidateOnly)
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
		if name == "" {
			return &broker.Error{Kafka: kerr.InvalidRequest, Message: "group configs need a group name"}
		}
		return group()
	}
	return &broker.Error{Kafka: kerr.InvalidRequest, Message: "unsupported config resource type"}
}

// alterGroupConfigs replaces a group's configs (AlterConfigs): the
// consumer group ones (broker.IsConsumerGroupConfig) in the broker, the
// others in the share coordinator. Both halves are validated before
// either is applied.
func (s *Server) alterGroupConfigs(group string, configs map[string]string, validateOnly bool) error {
	consumer, shared := map[string]string{}, map[string]string{}
	for k, v := range configs {
		if broker.IsConsumerGroupConfig(k) {
			consumer[k] = v
		} else {
			shared[k] = v
		}
	}
	setShare := func(validate bool) error {
		if s.share == nil {
			if len(shared) > 0 {
				return &broker.Error{Kafka: kerr.InvalidConfig, Message: "share groups are not enabled"}
			}
			return nil
		}
		return shareConfigErr(s.share.SetConfigs(group, shared, validate))
	}
	if err := s.b.AlterGroupConfigs(group, consumer, true); err != nil {
		return err
	}
	if err := setShare(true); err != nil || validateOnly {
		return err
	}
	if err := s.b.AlterGroupConfigs(group, consumer, false); err != nil {
		return err
	}
	return setShare(false)
}

package kafka

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/broker"
)

// handleDescribeConfigs describes topics (every config, with defaults and
// where each value comes from) and the broker.
func handleDescribeConfigs(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		or := kmsg.NewDescribeConfigsResponseResource()
		or.ResourceType, or.ResourceName = rr.ResourceType, rr.ResourceName
		entries, err := s.configEntries(r, rr.ResourceType, rr.ResourceName)
		or.ErrorCode, or.ErrorMessage = broker.Code(err)
		for _, e := range entries {
			if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, e.Name) {
				continue
			}
			or.Configs = append(or.Configs, describedConfig(e, r.version, req))
		}
		resp.Resources = append(resp.Resources, or)
	}
	return resp, nil
}

// configEntries returns the configs of a topic or of this broker: it
// needs DESCRIBE_CONFIGS on the topic or the cluster.
func (s *Server) configEntries(r *request, typ kmsg.ConfigResourceType, name string) ([]broker.ConfigEntry, error) {
	if err := s.configAccess(r, access.DescribeConfigs, typ, name); err != nil {
		return nil, err
	}
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t := s.b.Topic(name)
		if t == nil {
			return nil, kerr.UnknownTopicOrPartition
		}
		return s.b.DescribeConfigs(t), nil
	case kmsg.ConfigResourceTypeBroker:
		if err := s.checkBrokerResource(name); err != nil {
			return nil, err
		}
		return s.b.DescribeBrokerConfigs(), nil
	case kmsg.ConfigResourceTypeGroupConfig:
		return s.allGroupConfigEntries(name)
	}
	return nil, &broker.Error{Kafka: kerr.InvalidRequest, Message: fmt.Sprintf("config resource type %d is not supported", typ)}
}

// allGroupConfigEntries is a group's consumer configs (the broker's)
// and, when share groups are on, its share configs, sorted by name.
func (s *Server) allGroupConfigEntries(group string) ([]broker.ConfigEntry, error) {
	if group == "" {
		return nil, &broker.Error{Kafka: kerr.InvalidRequest, Message: "group configs need a group name"}
	}
	out := s.b.DescribeGroupConfigs(group)
	if s.share != nil {
		shared, err := s.groupConfigEntries(group)
		if err != nil {
			return nil, err
		}
		out = append(out, shared...)
	}
	slices.SortFunc(out, func(a, b broker.ConfigEntry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// configAccess checks op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a
// config resource: a topic, or the cluster for a broker or broker logger
// (CLUSTER_AUTHORIZATION_FAILED), as Kafka. Other types are left to the
// caller to refuse.
func (s *Server) configAccess(r *request, op access.Operation, typ kmsg.ConfigResourceType, name string) error {
	var denied *kerr.Error
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		denied = s.access(r, op, access.Topic, name)
	case kmsg.ConfigResourceTypeGroupConfig:
		denied = s.access(r, op, access.Group, name)
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		denied = s.accessCluster(r, op)
	}
	if denied != nil {
		return denied
	}
	return nil
}

// checkBrokerResource accepts "" (the cluster default) and this node's id.
func (s *Server) checkBrokerResource(name string) error {
	if name == "" || name == strconv.Itoa(int(s.cfg.NodeID)) {
		return nil
	}
	return &broker.Error{Kafka: kerr.InvalidRequest, Message: fmt.Sprintf("unknown broker %q", name)}
}

// configSynonyms is e's synonyms, or e itself when it has none.
func configSynonyms(e broker.ConfigEntry) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	syns := e.Synonyms
	if syns == nil {
		syns = []broker.ConfigSynonym{{Name: e.Name, Value: e.Value, Source: e.Source}}
	}
	out := make([]kmsg.DescribeConfigsResponseResourceConfigConfigSynonym, 0, len(syns))
	for _, s := range syns {
		syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		value := s.Value
		syn.Name, syn.Value, syn.Source = s.Name, &value, s.Source
		out = append(out, syn)
	}
	return out
}

func describedConfig(e broker.ConfigEntry, version int16, req *kmsg.DescribeConfigsRequest) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	value := e.Value
	c.Name, c.Value, c.Source, c.ConfigType = e.Name, &value, e.Source, e.Type
	c.IsDefault = e.Source == kmsg.ConfigSourceDefaultConfig
	c.ReadOnly = e.ReadOnly
	if req.IncludeSynonyms {
		c.ConfigSynonyms = configSynonyms(e)
	}
	if req.IncludeDocumentation && e.Doc != "" {
		doc := e.Doc
		c.Documentation = &doc
	}
	return c
}

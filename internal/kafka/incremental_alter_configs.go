package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/share"
)

// handleIncrementalAlterConfigs sets, deletes, appends to or subtracts from
// individual topic configs, and sets or deletes dynamic broker configs.
func handleIncrementalAlterConfigs(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		or := kmsg.NewIncrementalAlterConfigsResponseResource()
		or.ResourceType, or.ResourceName = rr.ResourceType, rr.ResourceName
		ops := make([]broker.ConfigOp, 0, len(rr.Configs))
		for _, c := range rr.Configs {
			ops = append(ops, broker.ConfigOp{Name: c.Name, Op: c.Op, Value: c.Value})
		}
		err := s.alterResource(r, rr.ResourceType, rr.ResourceName, func(t *broker.Topic) error {
			return s.b.IncrementalAlterConfigs(t, ops, req.ValidateOnly)
		}, func() error {
			return s.b.IncrementalAlterBrokerConfigs(rr.ResourceName, ops, req.ValidateOnly)
		}, func() error {
			return s.incrementalAlterGroupConfigs(rr.ResourceName, rr.Configs, req.ValidateOnly)
		})
		or.ErrorCode, or.ErrorMessage = broker.Code(err)
		resp.Resources = append(resp.Resources, or)
	}
	return resp, nil
}

// incrementalAlterGroupConfigs applies ops to a group's configs: those on
// consumer group configs in the broker, the others in the share
// coordinator. Both halves are validated before either is applied.
func (s *Server) incrementalAlterGroupConfigs(group string, cs []kmsg.IncrementalAlterConfigsRequestResourceConfig, validateOnly bool) error {
	var consumer []broker.ConfigOp
	var shared []share.ConfigOp
	for _, c := range cs {
		if broker.IsConsumerGroupConfig(c.Name) {
			consumer = append(consumer, broker.ConfigOp{Name: c.Name, Op: c.Op, Value: c.Value})
		} else {
			shared = append(shared, share.ConfigOp{Name: c.Name, Op: int8(c.Op), Value: deref(c.Value)})
		}
	}
	alterShare := func(validate bool) error {
		if len(shared) == 0 {
			return nil
		}
		if s.share == nil {
			return &broker.Error{Kafka: kerr.InvalidConfig, Message: "share groups are not enabled"}
		}
		return shareConfigErr(s.share.AlterConfigs(group, shared, validate))
	}
	if len(consumer) > 0 {
		if err := s.b.IncrementalAlterGroupConfigs(group, consumer, true); err != nil {
			return err
		}
	}
	if err := alterShare(true); err != nil || validateOnly {
		return err
	}
	if len(consumer) > 0 {
		if err := s.b.IncrementalAlterGroupConfigs(group, consumer, false); err != nil {
			return err
		}
	}
	return alterShare(false)
}

package kafka

import (
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
			gops := make([]share.ConfigOp, 0, len(ops))
			for _, o := range rr.Configs {
				gops = append(gops, share.ConfigOp{Name: o.Name, Op: int8(o.Op), Value: deref(o.Value)})
			}
			return shareConfigErr(s.share.AlterConfigs(rr.ResourceName, gops, req.ValidateOnly))
		})
		or.ErrorCode, or.ErrorMessage = broker.Code(err)
		resp.Resources = append(resp.Resources, or)
	}
	return resp, nil
}

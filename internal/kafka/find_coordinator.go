package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
)

// Coordinator key types.
const (
	coordinatorGroup = 0
	coordinatorTxn   = 1
)

// handleFindCoordinator answers that this broker coordinates every group
// and transactional id. v4+ batch the keys.
func handleFindCoordinator(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if r.version < 4 {
		c := s.findCoordinator(r, req.CoordinatorKey, req.CoordinatorType)
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
		return resp, nil
	}
	for _, k := range req.CoordinatorKeys {
		resp.Coordinators = append(resp.Coordinators, s.findCoordinator(r, k, req.CoordinatorType))
	}
	return resp, nil
}

// findCoordinator answers one key. It needs DESCRIBE on the group or the
// transactional id, as Kafka.
func (s *Server) findCoordinator(r *request, key string, typ int8) kmsg.FindCoordinatorResponseCoordinator {
	c := kmsg.NewFindCoordinatorResponseCoordinator()
	c.Key = key
	c.NodeID, c.Host, c.Port = -1, "", -1
	switch {
	case typ != coordinatorGroup && typ != coordinatorTxn:
		c.ErrorCode = kerr.InvalidRequest.Code
	case typ == coordinatorGroup && s.access(r, access.Describe, access.Group, key) != nil:
		c.ErrorCode = kerr.GroupAuthorizationFailed.Code
	case typ == coordinatorTxn && s.access(r, access.Describe, access.TransactionalID, key) != nil:
		c.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	case s.groups == nil && typ == coordinatorGroup:
		c.ErrorCode = kerr.CoordinatorNotAvailable.Code
	case key == "" && typ == coordinatorGroup:
		c.ErrorCode = kerr.InvalidGroupID.Code
	default:
		c.NodeID, c.Host, c.Port = s.cfg.NodeID, r.c.lis.AdvertisedHost, r.c.lis.AdvertisedPort
	}
	return c
}

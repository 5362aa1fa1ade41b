package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
)

// handleAddOffsetsToTxn adds a group to a transaction, so that its
// TxnOffsetCommits are committed with it. It needs WRITE on the
// transactional id and READ on the group.
func handleAddOffsetsToTxn(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	if denied := s.access(r, access.Write, access.TransactionalID, req.TransactionalID); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
	if denied := s.access(r, access.Read, access.Group, req.Group); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
	if s.txn == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	fenced := fencedErr(r.version, 2)
	id, pid, epoch, g := req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group
	r.later(func() kmsg.Response {
		resp.ErrorCode = errCode(s.txn.AddOffsets(id, pid, epoch, g, fenced))
		return resp
	})
	return nil, nil
}

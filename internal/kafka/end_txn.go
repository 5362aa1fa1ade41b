package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
)

// handleEndTxn commits or aborts a transaction; the answer comes once the
// markers are durable in every partition of it. It needs WRITE on the
// transactional id.
func handleEndTxn(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if denied := s.access(r, access.Write, access.TransactionalID, req.TransactionalID); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
	if s.txn == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	fenced := fencedErr(r.version, 2)
	id, pid, epoch, commit := req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit
	r.later(func() kmsg.Response {
		resp.ErrorCode = errCode(s.txn.EndTxn(id, pid, epoch, commit, fenced))
		return resp
	})
	return nil, nil
}

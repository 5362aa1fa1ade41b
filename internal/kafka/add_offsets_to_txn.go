package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleAddOffsetsToTxn adds a group to a transaction, so that its
// TxnOffsetCommits are committed with it.
func handleAddOffsetsToTxn(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
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

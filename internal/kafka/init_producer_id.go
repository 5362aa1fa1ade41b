package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/txn"
)

// fencedErr is the error an old producer epoch gets from a coordinator
// request: PRODUCER_FENCED from the version that knows it (KIP-588),
// INVALID_PRODUCER_EPOCH before.
func fencedErr(version, fencedFrom int16) *kerr.Error {
	if version >= fencedFrom {
		return kerr.ProducerFenced
	}
	return kerr.InvalidProducerEpoch
}

// handleInitProducerID gives an idempotent producer a new id, or a
// transactional one its id at a new epoch (fencing older producers).
func handleInitProducerID(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if denied := s.initProducerAccess(r, req); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
	if s.txn == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	ir := txn.InitRequest{TimeoutMs: req.TransactionTimeoutMillis, ProducerID: -1, Epoch: -1, Fenced: fencedErr(r.version, 4)}
	if req.TransactionalID != nil {
		id := *req.TransactionalID
		ir.TransactionalID = &id
	}
	if r.version >= 3 {
		ir.ProducerID, ir.Epoch = req.ProducerID, req.ProducerEpoch
	}
	r.later(func() kmsg.Response {
		pid, epoch, err := s.txn.InitProducerID(ir)
		resp.ErrorCode = errCode(err)
		if err == nil {
			resp.ProducerID, resp.ProducerEpoch = pid, epoch
		}
		return resp
	})
	return nil, nil
}

// initProducerAccess checks WRITE on the transactional id, or for an
// idempotent producer IDEMPOTENT_WRITE on the cluster, as Kafka.
func (s *Server) initProducerAccess(r *request, req *kmsg.InitProducerIDRequest) *kerr.Error {
	if req.TransactionalID != nil {
		return s.access(r, access.Write, access.TransactionalID, *req.TransactionalID)
	}
	return s.accessCluster(r, access.IdempotentWrite)
}

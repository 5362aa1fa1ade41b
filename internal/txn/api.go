package txn

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/group"
)

// InitRequest is an InitProducerId request.
type InitRequest struct {
	TransactionalID *string // nil: an idempotent producer
	TimeoutMs       int32
	// ProducerID and Epoch are the producer's current ones (v3+, KIP-360),
	// or -1.
	ProducerID int64
	Epoch      int16
	// Fenced is the error an old epoch gets at the request's version.
	Fenced *kerr.Error
}

// InitProducerID gives a producer its id and epoch. An idempotent producer
// gets a new id. A transactional id gets its id at the next epoch, which
// fences every older producer of it; a transaction the old producer left
// open is aborted (at the new epoch) and a half-ended one completed first.
func (c *Coordinator) InitProducerID(r InitRequest) (pid int64, epoch int16, kerrv *kerr.Error) {
	resp, ok := c.call(func(t Token) any { return Init{Token: t, InitRequest: r} })
	if !ok {
		return -1, -1, kerr.CoordinatorNotAvailable
	}
	switch res := resp.(type) {
	case InitResult:
		return res.PID, res.Epoch, res.Err
	case *kerr.Error:
		return -1, -1, res
	}
	return -1, -1, kerr.CoordinatorNotAvailable
}

// AddPartitions adds partitions to id's transaction, beginning it if
// needed. The answer is per partition: unknown partitions get
// UNKNOWN_TOPIC_OR_PARTITION and then the others OPERATION_NOT_ATTEMPTED,
// as in Kafka; a request-wide error applies to all.
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, tps []group.TopicPartition, fenced *kerr.Error) (map[group.TopicPartition]*kerr.Error, *kerr.Error) {
	unknown := c.io.unknownPartitions(tps)
	resp, ok := c.call(func(t Token) any {
		return AddPartitions{Token: t, ID: id, PID: pid, Epoch: epoch, Partitions: tps, Unknown: unknown, Fenced: fenced}
	})
	if !ok {
		return nil, kerr.CoordinatorNotAvailable
	}
	switch res := resp.(type) {
	case AddPartitionsResult:
		return res.Partitions, res.Err
	case *kerr.Error:
		return nil, res
	}
	return nil, kerr.CoordinatorNotAvailable
}

// errOf is the answer of a request that Reply answers with a *kerr.Error.
func (c *Coordinator) errOf(mk func(Token) any) *kerr.Error {
	resp, ok := c.call(mk)
	if !ok {
		return kerr.CoordinatorNotAvailable
	}
	kerrv, _ := resp.(*kerr.Error)
	return kerrv
}

// AddOffsets adds group to id's transaction, so TxnOffsetCommit may store
// offsets for it.
func (c *Coordinator) AddOffsets(id string, pid int64, epoch int16, groupID string, fenced *kerr.Error) *kerr.Error {
	return c.errOf(func(t Token) any {
		return AddOffsets{Token: t, ID: id, PID: pid, Epoch: epoch, Group: groupID, Fenced: fenced}
	})
}

// OffsetCommit is a TxnOffsetCommit request.
type OffsetCommit struct {
	TransactionalID string
	Group           string
	ProducerID      int64
	Epoch           int16
	Generation      int32 // -1 before v3
	MemberID        string
	InstanceID      string
	Offsets         map[group.TopicPartition]group.Offset
	Fenced          *kerr.Error
}

// CommitOffsets stores offsets in id's transaction: they reach the group
// when it commits, and are dropped if it aborts. The group's generation
// is checked as for OffsetCommit, which fences a consumer that lost its
// partitions in a rebalance (KIP-447).
func (c *Coordinator) CommitOffsets(r OffsetCommit) *kerr.Error {
	check := c.cfg.Groups != nil && (r.Generation >= 0 || r.MemberID != "")
	return c.errOf(func(t Token) any { return TxnOffsetCommit{Token: t, OffsetCommit: r, CheckGroup: check} })
}

// EndTxn commits or aborts id's transaction. A retry of an end that
// already happened succeeds.
//
// The answer comes once the decision (Prepare*) is durable and the markers
// are appended; their fsyncs and the Complete* record finish after it,
// before the id's next request runs.
func (c *Coordinator) EndTxn(id string, pid int64, epoch int16, commit bool, fenced *kerr.Error) *kerr.Error {
	return c.errOf(func(t Token) any {
		return EndTxn{Token: t, ID: id, PID: pid, Epoch: epoch, Commit: commit, Fenced: fenced}
	})
}

package txn

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/broker"
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
	if r.TransactionalID == nil {
		id, err := c.allocPID()
		if err != nil {
			c.logger.Error("allocate producer id", "err", err)
			return -1, -1, kerr.CoordinatorNotAvailable
		}
		return id, 0, nil
	}
	id := *r.TransactionalID
	if id == "" {
		return -1, -1, kerr.InvalidRequest
	}
	if r.TimeoutMs <= 0 || time.Duration(r.TimeoutMs)*time.Millisecond > c.cfg.MaxTimeout {
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	c.mu.Lock()
	t := c.txnLocked(id)
	c.mu.Unlock()
	t.op.Lock()
	defer t.op.Unlock()
	m := c.metaOf(t)
	if m == nil || m.state == Dead {
		newID, err := c.allocPID()
		if err != nil {
			return -1, -1, kerr.CoordinatorNotAvailable
		}
		nm := &meta{id: id, pid: newID, timeoutMs: r.TimeoutMs, state: Empty, updated: c.nowMs()}
		if err := c.persist(t, nm); err != nil {
			return -1, -1, c.storageErr("init producer id", err)
		}
		return nm.pid, nm.epoch, nil
	}
	if r.ProducerID >= 0 {
		current := r.ProducerID == m.pid && r.Epoch == m.epoch
		timedOut := m.timedOut && r.ProducerID == m.pid && r.Epoch == m.epoch-1
		if !current && !timedOut {
			return -1, -1, r.Fenced
		}
	}
	if err := c.finishForInit(t, m); err != nil {
		return -1, -1, c.storageErr("end transaction for init producer id", err)
	}
	m = c.metaOf(t)
	nm := m
	if !m.fencedNow {
		nm = m.bumped(c.mustPID)
		if nm.pid < 0 {
			return -1, -1, kerr.CoordinatorNotAvailable
		}
	}
	nm = nm.clone()
	nm.fencedNow = false
	nm.state, nm.timeoutMs, nm.updated = Empty, r.TimeoutMs, c.nowMs()
	nm.parts, nm.offsets = nil, nil
	if err := c.persist(t, nm); err != nil {
		return -1, -1, c.storageErr("init producer id", err)
	}
	return nm.pid, nm.epoch, nil
}

// finishForInit ends what an older producer left: an Ongoing transaction
// is aborted at a bumped epoch (which also fences the older producer's
// produce requests at every partition), a Prepare* one completed. t.op
// must be held.
func (c *Coordinator) finishForInit(t *txn, m *meta) error {
	switch m.state {
	case Ongoing:
		b := m.bumped(c.mustPID)
		if b.pid < 0 {
			return ErrClosed
		}
		if err := c.end(t, b, false); err != nil {
			return err
		}
		c.mu.Lock()
		nm := t.m.clone()
		nm.fencedNow = true // the abort already bumped the epoch
		t.m = nm
		c.mu.Unlock()
		return nil
	case PrepareCommit, PrepareAbort:
		return c.complete(t, m)
	}
	return nil
}

func (c *Coordinator) storageErr(what string, err error) *kerr.Error {
	if broker.IsStorageError(err) {
		// A full disk or an I/O error: NOT_COORDINATOR, as Kafka's
		// transaction and group coordinators answer a storage error.
		// The client finds the coordinator again and retries, which
		// succeeds once space returns. The partition logged it.
		return kerr.NotCoordinator
	}
	c.logger.Error(what, "err", err)
	return kerr.CoordinatorNotAvailable
}

// checkTxn finds id's txn, locks its op and checks the producer. On
// success the caller must unlock t.op.
func (c *Coordinator) checkTxn(id string, pid int64, epoch int16, fenced *kerr.Error) (*txn, *meta, *kerr.Error) {
	t := c.lookup(id)
	if t == nil {
		return nil, nil, kerr.InvalidProducerIDMapping
	}
	t.op.Lock()
	m := c.metaOf(t)
	if m == nil {
		t.op.Unlock()
		return nil, nil, kerr.InvalidProducerIDMapping
	}
	if err := m.checkProducer(pid, epoch, fenced); err != nil {
		t.op.Unlock()
		return nil, nil, err
	}
	if m.state == PrepareCommit || m.state == PrepareAbort {
		// A completion failed earlier; try it again now.
		if err := c.complete(t, m); err != nil {
			t.op.Unlock()
			return nil, nil, c.storageErr("complete transaction", err)
		}
		m = c.metaOf(t)
	}
	return t, m, nil
}

// AddPartitions adds partitions to id's transaction, beginning it if
// needed. The answer is per partition: unknown partitions get
// UNKNOWN_TOPIC_OR_PARTITION and then the others OPERATION_NOT_ATTEMPTED,
// as in Kafka; a request-wide error applies to all.
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, tps []group.TopicPartition, fenced *kerr.Error) (map[group.TopicPartition]*kerr.Error, *kerr.Error) {
	t, m, kerrv := c.checkTxn(id, pid, epoch, fenced)
	if kerrv != nil {
		return nil, kerrv
	}
	defer t.op.Unlock()
	out := map[group.TopicPartition]*kerr.Error{}
	bad := false
	for _, tp := range tps {
		if tt := c.b.Topic(tp.Topic); tt == nil || tt.Partition(tp.Partition) == nil || tp.Topic == TopicName {
			out[tp] = kerr.UnknownTopicOrPartition
			bad = true
		}
	}
	if bad {
		for _, tp := range tps {
			if out[tp] == nil {
				out[tp] = kerr.OperationNotAttempted
			}
		}
		return out, nil
	}
	nm := m.clone()
	changed := m.state != Ongoing
	nm.begin(c.nowMs())
	for _, tp := range tps {
		if !nm.parts[tp] {
			nm.addPartition(tp)
			changed = true
		}
	}
	if changed {
		if err := c.persist(t, nm); err != nil {
			return nil, c.storageErr("add partitions to transaction", err)
		}
	}
	return out, nil
}

// AddOffsets adds group to id's transaction, so TxnOffsetCommit may store
// offsets for it.
func (c *Coordinator) AddOffsets(id string, pid int64, epoch int16, groupID string, fenced *kerr.Error) *kerr.Error {
	if groupID == "" {
		return kerr.InvalidGroupID
	}
	t, m, kerrv := c.checkTxn(id, pid, epoch, fenced)
	if kerrv != nil {
		return kerrv
	}
	defer t.op.Unlock()
	if _, ok := m.offsets[groupID]; ok && m.state == Ongoing {
		return nil
	}
	nm := m.clone()
	nm.begin(c.nowMs())
	if nm.offsets[groupID] == nil {
		nm.offsets[groupID] = map[group.TopicPartition]group.Offset{}
	}
	if err := c.persist(t, nm, [2][]byte{offsetsKey(id), offsetsValue(nm)}); err != nil {
		return c.storageErr("add offsets to transaction", err)
	}
	return nil
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
	t, m, kerrv := c.checkTxn(r.TransactionalID, r.ProducerID, r.Epoch, r.Fenced)
	if kerrv != nil {
		return kerrv
	}
	defer t.op.Unlock()
	if _, ok := m.offsets[r.Group]; !ok || m.state != Ongoing {
		return kerr.InvalidTxnState
	}
	if c.cfg.Groups != nil && (r.Generation >= 0 || r.MemberID != "") {
		if err := c.cfg.Groups.CommitCheck(r.Group, r.MemberID, r.InstanceID, r.Generation); err != nil {
			return err
		}
	}
	nm := m.clone()
	nm.updated = c.nowMs()
	for tp, o := range r.Offsets {
		nm.offsets[r.Group][tp] = o
	}
	if err := c.write([][2][]byte{{offsetsKey(nm.id), offsetsValue(nm)}}, func() { c.publishLocked(t, nm) }); err != nil {
		return c.storageErr("txn offset commit", err)
	}
	return nil
}

// EndTxn commits or aborts id's transaction. A retry of an end that
// already happened succeeds.
//
// The answer comes once the decision (Prepare*) is durable and the markers
// are appended; their fsyncs finish in the background (see completeAsync).
func (c *Coordinator) EndTxn(id string, pid int64, epoch int16, commit bool, fenced *kerr.Error) *kerr.Error {
	t, m, kerrv := c.checkTxn(id, pid, epoch, fenced)
	if kerrv != nil {
		return kerrv
	}
	handedOff := false
	defer func() {
		if !handedOff {
			t.op.Unlock()
		}
	}()
	switch {
	case m.state == Ongoing:
	case m.state == CompleteCommit && commit, m.state == CompleteAbort && !commit:
		return nil
	default:
		return kerr.InvalidTxnState
	}
	prep := m.clone()
	prep.state, prep.updated = PrepareAbort, c.nowMs()
	if commit {
		prep.state = PrepareCommit
	}
	if err := c.persist(t, prep); err != nil {
		return c.storageErr("end transaction", err)
	}
	if err := c.completeAsync(t, prep); err != nil {
		return c.storageErr("end transaction", err)
	}
	handedOff = true
	return nil
}

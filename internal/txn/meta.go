package txn

import (
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/group"
)

// State is a transaction's state, numbered as Kafka's __transaction_state
// stores it. Part of the on-disk format; do not change.
type State int8

// The states. Herald completes PrepareCommit and PrepareAbort within the
// request that entered them (or at start, after a crash), so a client
// sees them only through DescribeTransactions during a completion.
const (
	Empty          State = 0
	Ongoing        State = 1
	PrepareCommit  State = 2
	PrepareAbort   State = 3
	CompleteCommit State = 4
	CompleteAbort  State = 5
	Dead           State = 6
)

func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case Ongoing:
		return "Ongoing"
	case PrepareCommit:
		return "PrepareCommit"
	case PrepareAbort:
		return "PrepareAbort"
	case CompleteCommit:
		return "CompleteCommit"
	case CompleteAbort:
		return "CompleteAbort"
	case Dead:
		return "Dead"
	}
	return "Unknown"
}

// meta is one transactional id's state. The machine treats a meta as a
// value: a transition copies it (clone), changes the copy, writes it and
// only then makes it the id's state and publishes it, so readers of the
// published view never see a state that is not in the log.
type meta struct {
	id        string
	pid       int64
	epoch     int16
	timeoutMs int32
	state     State
	// parts are the partitions in the transaction (Ongoing, Prepare*).
	parts map[group.TopicPartition]bool
	// offsets are TxnOffsetCommit's pending offsets per group, committed
	// to the group only when the transaction commits. groups added by
	// AddOffsetsToTxn have an entry, maybe empty.
	offsets map[string]map[group.TopicPartition]group.Offset
	start   int64 // ms, when the transaction began (Ongoing)
	updated int64 // ms
	// timedOut is set when the coordinator aborted the transaction on its
	// timeout and bumped the epoch: the producer may still re-initialize
	// from the epoch before (KIP-588). Not persisted.
	timedOut bool
}

func (m *meta) clone() *meta {
	c := *m
	c.parts = maps.Clone(m.parts)
	c.offsets = make(map[string]map[group.TopicPartition]group.Offset, len(m.offsets))
	for g, o := range m.offsets {
		c.offsets[g] = maps.Clone(o)
	}
	return &c
}

func (m *meta) addPartition(tp group.TopicPartition) {
	if m.parts == nil {
		m.parts = map[group.TopicPartition]bool{}
	}
	m.parts[tp] = true
}

// partitions returns the partitions sorted by topic and partition.
func (m *meta) partitions() []group.TopicPartition {
	out := slices.Collect(maps.Keys(m.parts))
	slices.SortFunc(out, func(a, b group.TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return out
}

// open reports whether the transaction has begun and not ended.
func (m *meta) open() bool {
	return m.state == Ongoing || m.state == PrepareCommit || m.state == PrepareAbort
}

// checkProducer checks a request's producer id and epoch against m;
// fenced is the error an old epoch gets at the request's version.
func (m *meta) checkProducer(pid int64, epoch int16, fenced *kerr.Error) *kerr.Error {
	switch {
	case pid != m.pid:
		return kerr.InvalidProducerIDMapping
	case epoch != m.epoch:
		return fenced
	}
	return nil
}

// bumped returns m at the next epoch, or at producer id pid when the
// epoch is exhausted (Machine.bump allocates pid then).
func (m *meta) bumped(pid int64) *meta {
	c := m.clone()
	if c.epoch >= math.MaxInt16-1 {
		c.pid, c.epoch = pid, 0
	} else {
		c.epoch++
	}
	c.timedOut = false
	return c
}

// begin moves an Empty or Complete* transaction to Ongoing at nowMs.
func (m *meta) begin(nowMs int64) {
	if m.state != Ongoing {
		m.state, m.start = Ongoing, nowMs
		m.parts, m.offsets = nil, map[string]map[group.TopicPartition]group.Offset{}
	}
	m.updated = nowMs
}

// ended returns m after its transaction ends (commit or abort).
func (m *meta) ended(commit bool, nowMs int64) *meta {
	c := m.clone()
	c.state = CompleteAbort
	if commit {
		c.state = CompleteCommit
	}
	c.parts, c.offsets, c.updated = nil, nil, nowMs
	return c
}

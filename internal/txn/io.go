package txn

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/group"
	"github.com/heraldhq/herald/internal/records"
)

// stateIO is every call of the coordinator that touches a partition or a
// log: appends to __transaction_state and the waits for their
// durability, the replay scan, markers through the Manager, offset
// commits to the groups, and storage-error accounting. The driver calls
// it; nothing here holds a coordinator lock.
type stateIO struct {
	b      *broker.Broker
	pm     *Manager
	groups *group.Coordinator // nil: offsets go nowhere
	logger *slog.Logger
	now    func() time.Time
	topic  *broker.Topic // __transaction_state, one partition
}

// openStateTopic returns __transaction_state, creating it if needed.
func openStateTopic(b *broker.Broker) (*broker.Topic, error) {
	return b.StateTopic(TopicName, 1)
}

func (o *stateIO) partition() *broker.Partition { return o.topic.Partitions()[0] }

// scan reads the transaction log from the start; unreadable records are
// skipped with a warning.
func (o *stateIO) scan() ([]logEntry, error) {
	var out []logEntry
	var scratch []byte
	for _, p := range o.topic.Partitions() {
		err := p.Scan(0, func(batch []byte) error {
			var err error
			scratch, err = records.EachRecord(batch, scratch, func(r *records.Record) {
				e, err := decodeLogEntry(r.Key, r.Value)
				if err != nil {
					o.logger.Warn("skipping unreadable __transaction_state record", "err", err)
					return
				}
				out = append(out, e)
			})
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// appendState appends one batch without waiting; wait, if not nil, waits
// for it to be durable.
func (o *stateIO) appendState(kvs [][2][]byte) (wait func() error, err error) {
	batch, err := records.KeyValueBatch(o.now().UnixMilli(), kvs)
	if err != nil {
		return nil, err
	}
	a, err := o.partition().Write(batch)
	if err != nil {
		return nil, err
	}
	return a.Durable, nil
}

// appendBlock durably records a producer id block.
func (o *stateIO) appendBlock(end int64) error {
	wait, err := o.appendState([][2][]byte{{pidBlockKey(), pidBlockValue(end)}})
	if err != nil {
		return err
	}
	return wait()
}

// failed logs a failed write that is not a storage error; the partition
// API has already counted and logged a storage error (once per
// partition) in __transaction_state's storage health.
func (o *stateIO) failed(what string, err error) {
	if broker.IsStorageError(err) {
		return
	}
	o.logger.Error(what, "err", err)
}

// unknownPartitions returns the partitions of tps that do not exist (or
// are __transaction_state's), or nil.
func (o *stateIO) unknownPartitions(tps []group.TopicPartition) map[group.TopicPartition]bool {
	var unknown map[group.TopicPartition]bool
	for _, tp := range tps {
		if tt := o.b.Topic(tp.Topic); tt == nil || tt.Partition(tp.Partition) == nil || tp.Topic == TopicName {
			if unknown == nil {
				unknown = map[group.TopicPartition]bool{}
			}
			unknown[tp] = true
		}
	}
	return unknown
}

// markerWait is a marker appended and not yet known durable.
type markerWait struct {
	p *broker.Partition
	a broker.Appended
}

// writeMarkers appends w's markers and, for a commit, commits its offsets
// to their groups (in parallel; each group commit waits for its fsync).
// A partition deleted since is skipped, and so is one where a newer epoch
// of the producer already wrote.
func (o *stateIO) writeMarkers(w WriteMarkers) ([]markerWait, error) {
	var waits []markerWait
	for _, tp := range w.Partitions {
		tt := o.b.Topic(tp.Topic)
		if tt == nil {
			continue
		}
		p := tt.Partition(tp.Partition)
		if p == nil {
			continue
		}
		a, err := o.pm.WriteMarker(p, w.PID, w.Epoch, w.Commit, 0)
		if errors.Is(err, kerr.ProducerFenced) {
			o.logger.Warn("marker from an older epoch skipped", "transactional_id", w.ID, "topic", tp.Topic, "partition", tp.Partition)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("write marker to %s-%d: %w", tp.Topic, tp.Partition, err)
		}
		waits = append(waits, markerWait{p, a})
	}
	if !w.Commit || o.groups == nil {
		return waits, nil
	}
	return waits, o.commitOffsets(w.Offsets)
}

func (o *stateIO) commitOffsets(offsets map[string]map[group.TopicPartition]group.Offset) error {
	var (
		wg   sync.WaitGroup
		emu  sync.Mutex
		errs []error
	)
	now := o.now().UnixMilli()
	for g, offs := range offsets {
		if len(offs) == 0 {
			continue
		}
		stamped := make(map[group.TopicPartition]group.Offset, len(offs))
		for tp, off := range offs {
			off.CommitTime = now
			stamped[tp] = off
		}
		wg.Go(func() {
			if err := o.groups.Commit(g, stamped); err != nil {
				emu.Lock()
				errs = append(errs, fmt.Errorf("commit offsets of group %s: %w", g, err))
				emu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// syncMarkers waits for the markers to be durable, their fsyncs in
// parallel.
func (o *stateIO) syncMarkers(waits []markerWait) error {
	var (
		wg   sync.WaitGroup
		emu  sync.Mutex
		errs []error
	)
	for _, w := range waits {
		wg.Go(func() {
			if err := w.a.Durable(); err != nil {
				emu.Lock()
				errs = append(errs, fmt.Errorf("sync marker to %s-%d: %w", w.p.Topic.Name, w.p.Index, err))
				emu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// checkGroup asks the group whether a TxnOffsetCommit's member and
// generation may commit.
func (o *stateIO) checkGroup(c CheckGroup) *kerr.Error {
	return o.groups.CommitCheck(c.Group, c.MemberID, c.InstanceID, c.Generation)
}

package corrindex

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/records"
)

// CatchUp indexes every partition up to its high watermark now.
func (x *Index) CatchUp() error { return x.pass(0, time.Time{}) }

// errPassFull stops a background pass's scan of a partition once it has
// read its share (passBytes).
var errPassFull = errors.New("pass full")

// errBehind stops a catch-up at its deadline: the index has not reached
// every partition's high watermark.
var errBehind = errors.New("the correlation index is behind the logs")

// pass indexes every partition, at most limit bytes of log each when
// limit > 0 (the background indexer's bounded passes), stopping at
// deadline when it is set (a Trace's catch-up budget).
func (x *Index) pass(limit int, deadline time.Time) error {
	x.passMu.Lock()
	defer x.passMu.Unlock()
	var errs []error
	for _, t := range x.cfg.Broker.Topics() {
		if broker.IsInternal(t.Name) {
			continue
		}
		for _, p := range t.Partitions() {
			if !deadline.IsZero() && time.Now().After(deadline) {
				return errors.Join(append(errs, errBehind)...)
			}
			if err := x.indexPartition(t, p, limit, deadline); err != nil {
				errs = append(errs, fmt.Errorf("%s-%d: %w", t.Name, p.Index, err))
			}
		}
	}
	return errors.Join(errs...)
}

// state returns p's state, assigning it a pid on first sight.
// passMu must be held.
func (x *Index) state(t *broker.Topic, p *broker.Partition) (*partState, error) {
	pk := partKey{topicID: t.ID, partition: p.Index}
	x.mu.Lock()
	st := x.mu.parts[pk]
	x.mu.Unlock()
	if st != nil {
		return st, nil
	}
	x.mu.Lock()
	pid := x.mu.nextPID
	x.mu.Unlock()
	epoch := x.epoch.Load()
	if err := x.db.Set(partitionKey(epoch, pk), binary.BigEndian.AppendUint32(nil, pid), pebble.NoSync); err != nil {
		return nil, err
	}
	st = &partState{pid: pid, epoch: epoch}
	x.mu.Lock()
	x.mu.parts[pk], x.mu.byPID[pid] = st, pk
	x.mu.nextPID = pid + 1
	x.mu.Unlock()
	return st, nil
}

// indexPartition indexes p from its next offset to its high watermark.
// passMu must be held.
func (x *Index) indexPartition(t *broker.Topic, p *broker.Partition, limit int, deadline time.Time) error {
	hw := p.HighWatermark()
	x.mu.Lock()
	st := x.mu.parts[partKey{topicID: t.ID, partition: p.Index}]
	x.mu.Unlock()
	if st != nil && st.next >= hw {
		if st.next > hw {
			// The log lost its unsynced tail in a crash after we
			// indexed it: index what is written there again (stale
			// entries are filtered when read back).
			st.next = hw
		}
		return nil
	}
	st, err := x.state(t, p)
	if err != nil {
		return err
	}
	w := &writer{x: x, st: st, b: x.db.NewBatch(), next: st.next, limit: limit, deadline: deadline}
	err = p.Scan(st.next, w.add)
	if errors.Is(err, errPassFull) {
		err = nil
	}
	if cerr := w.commit(); err == nil {
		err = cerr
	}
	return err
}

// writer collects one pass's entries into pebble batches.
type writer struct {
	x       *Index
	st      *partState
	b       *pebble.Batch
	next    int64 // offset after the last batch added
	limit   int   // bytes of log to read; 0 is no limit
	read    int   // bytes of log read
	entries int   // entries in b
	// deadline, when set, stops the pass (errBehind).
	deadline time.Time
	key      []byte
	scratch  []byte
}

// add indexes one record batch. A batch that does not decode (the log
// checked it when it was appended, so only damage does this) is skipped
// and logged.
func (w *writer) add(batch []byte) error {
	h := records.Header(batch)
	base := h.BaseOffset()
	var err error
	w.scratch, err = records.EachRecord(batch, w.scratch, func(r *records.Record) {
		off := base + int64(r.OffsetDelta)
		r.EachHeader(func(k, v []byte) {
			var kind byte
			switch string(k) {
			case HeaderCorrelationID:
				kind = kindCorrelation
			case HeaderID:
				kind = kindEventID
			default:
				return
			}
			w.key = appendEntryKey(w.key[:0], w.x.epoch.Load(), kind, hashID(v), w.st.pid, off)
			_ = w.b.Set(w.key, nil, nil)
			w.entries++
		})
	})
	if err != nil {
		w.x.logger.Warn("correlation index: skipping a batch that does not decode", "offset", base, "err", err)
	}
	w.next = h.LastOffset() + 1
	if w.b.Len() >= batchBytes {
		if err := w.commit(); err != nil {
			return err
		}
		w.b = w.x.db.NewBatch()
	}
	if w.read += len(batch); w.limit > 0 && w.read >= w.limit {
		return errPassFull
	}
	if !w.deadline.IsZero() && time.Now().After(w.deadline) {
		return errBehind
	}
	return nil
}

// commit writes the batch with the partition's next offset. NoSync: a
// crash may lose the latest batches, and the next offset with them, so
// they are indexed again.
func (w *writer) commit() error {
	if w.next <= w.st.next {
		return w.b.Close()
	}
	_ = w.b.Set(nextKey(w.x.epoch.Load(), w.st.pid), binary.BigEndian.AppendUint64(nil, uint64(w.next)), nil)
	if err := w.b.Commit(pebble.NoSync); err != nil {
		return err
	}
	w.st.next = w.next
	w.x.countEntries(w.entries)
	w.entries = 0
	return nil
}

// countEntries starts a new epoch once the current one holds
// epochEntries. passMu must be held.
func (x *Index) countEntries(n int) {
	if x.inEpoch += n; int64(x.inEpoch) >= epochEntries.Load() {
		x.epoch.Add(1)
		x.inEpoch = 0
	}
}

// Sweep deletes the entries of records below their partition's log start
// (retention, DeleteRecords) and of partitions whose topic is gone, and
// next offsets that a later epoch's supersede. It reads the whole index
// once: run rarely (Config.SweepInterval).
func (x *Index) Sweep() (deleted int, err error) {
	x.passMu.Lock()
	defer x.passMu.Unlock()
	starts := x.logStarts()
	it, err := x.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	b := x.db.NewBatch()
	var lastNext = map[uint32][]byte{} // pid -> its newest 'w' key so far
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		_, kind, _ := parseKey(k)
		switch kind {
		case kindCorrelation, kindEventID:
			pid, off, ok := parseEntryKey(k)
			if start, live := starts[pid]; ok && live && off >= start {
				continue
			}
			_ = b.Delete(k, nil)
			deleted++
		case kindNext:
			if len(k) != 9 {
				continue
			}
			pid := binary.BigEndian.Uint32(k[5:])
			if prev := lastNext[pid]; prev != nil {
				_ = b.Delete(prev, nil)
			}
			lastNext[pid] = append([]byte(nil), k...)
		}
	}
	if err := it.Close(); err != nil {
		return deleted, err
	}
	x.forgetGone(b, starts, lastNext)
	return deleted, b.Commit(pebble.NoSync)
}

// logStarts maps the pid of every live partition to its log start.
func (x *Index) logStarts() map[uint32]int64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make(map[uint32]int64, len(x.mu.parts))
	for pk, st := range x.mu.parts {
		if p := x.partition(pk); p != nil {
			out[st.pid] = p.LogStartOffset()
		}
	}
	return out
}

// forgetGone drops the partitions of deleted topics from the table.
func (x *Index) forgetGone(b *pebble.Batch, live map[uint32]int64, nexts map[uint32][]byte) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for pk, st := range x.mu.parts {
		if _, ok := live[st.pid]; ok {
			continue
		}
		_ = b.Delete(partitionKey(st.epoch, pk), nil)
		if k := nexts[st.pid]; k != nil {
			_ = b.Delete(k, nil)
		}
		delete(x.mu.parts, pk)
		delete(x.mu.byPID, st.pid)
	}
}

// partition is the broker's partition pk names, or nil.
func (x *Index) partition(pk partKey) *broker.Partition {
	t := x.cfg.Broker.TopicByID(pk.topicID)
	if t == nil {
		return nil
	}
	return t.Partition(pk.partition)
}

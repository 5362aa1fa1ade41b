package txn

import (
	"cmp"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/broker"
	hlog "github.com/heraldhq/herald/internal/log"
	"github.com/heraldhq/herald/internal/records"
)

// maxBatches is how many recent batches per producer a partition keeps for
// duplicate detection: Kafka's max.in.flight.requests.per.connection limit
// for idempotence, so a retry is always among them.
const maxBatches = 5

// batchMeta is one appended batch of a producer.
type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	// res lets a duplicate wait for the original's fsync; zero (already
	// durable) for batches found by recovery.
	res hlog.AppendResult
}

// producer is what a partition knows of one producer id.
type producer struct {
	epoch int16
	// batches are the last appended batches at epoch, oldest first.
	// Invariant: len(batches) <= maxBatches.
	batches []batchMeta
	// txnFirst is the first offset of the producer's open transaction in
	// this partition, or -1.
	txnFirst int64
	// lastTimestamp is the max timestamp of its last batch appended or
	// scanned since the broker started (it is not in the snapshot), or 0.
	lastTimestamp int64
}

func (p *producer) lastSeq() int32 {
	if len(p.batches) == 0 {
		return -1
	}
	return p.batches[len(p.batches)-1].lastSeq
}

// openTxn is a transaction with data in the partition. It stays here after
// its marker is appended until the marker is below the high watermark, so
// that the last stable offset never passes a marker a reader cannot see.
type openTxn struct {
	pid    int64
	first  int64
	marker int64 // -1 while no marker is appended
}

// AbortedTxn is one aborted transaction of a partition, kept until the
// log start passes its marker: read_committed fetches return it (as a
// broker.AbortedTxn) so consumers can drop its records.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64 // the offset of the abort marker
}

// state is one partition's producer state: pure bookkeeping, no IO. The
// Manager holds its lock around check, append and apply.
type state struct {
	producers map[int64]*producer
	// open is ordered by first offset.
	open []openTxn
	// aborted is ordered by LastOffset.
	aborted []AbortedTxn
}

func newState() *state { return &state{producers: map[int64]*producer{}} }

// nextSeq is the sequence after lastSeq+delta, wrapping at MaxInt32 as
// Kafka does.
func addSeq(seq int32, delta int32) int32 {
	if seq > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - seq) - 1
	}
	return seq + delta
}

// check decides what to do with a produced batch: append it (nil, nil),
// answer it as a duplicate of an earlier batch (dup), or refuse it. It
// follows Kafka 2.5+: an unknown producer id is accepted at any sequence
// (its state may have been lost to retention); a known one must continue
// its sequence, or start at 0 with a new epoch.
func (s *state) check(h records.Header) (*batchMeta, *kerr.Error) {
	pid := h.ProducerID()
	if pid < 0 {
		return nil, nil
	}
	epoch, seq := h.ProducerEpoch(), h.BaseSequence()
	if seq < 0 {
		return nil, kerr.InvalidRecord
	}
	last := addSeq(seq, h.LastOffsetDelta())
	pr := s.producers[pid]
	if pr == nil {
		return nil, nil
	}
	if epoch < pr.epoch {
		return nil, kerr.InvalidProducerEpoch
	}
	if epoch > pr.epoch {
		if seq != 0 {
			return nil, kerr.OutOfOrderSequenceNumber
		}
		return nil, nil
	}
	for i := range pr.batches {
		if b := &pr.batches[i]; b.firstSeq == seq && b.lastSeq == last {
			return b, nil
		}
	}
	if seq != addSeq(pr.lastSeq(), 1) {
		return nil, kerr.OutOfOrderSequenceNumber
	}
	return nil, nil
}

// apply records an appended data batch (whose header now holds its
// offsets).
func (s *state) apply(h records.Header, res hlog.AppendResult) {
	pid := h.ProducerID()
	if pid < 0 {
		return
	}
	pr := s.producer(pid, h.ProducerEpoch())
	bm := batchMeta{firstSeq: h.BaseSequence(), lastSeq: addSeq(h.BaseSequence(), h.LastOffsetDelta()),
		firstOffset: h.BaseOffset(), lastOffset: h.LastOffset(), res: res}
	if len(pr.batches) == maxBatches {
		copy(pr.batches, pr.batches[1:])
		pr.batches = pr.batches[:maxBatches-1]
	}
	pr.batches = append(pr.batches, bm)
	pr.lastTimestamp = h.MaxTimestamp()
	if h.IsTransactional() && pr.txnFirst < 0 {
		pr.txnFirst = h.BaseOffset()
		s.open = append(s.open, openTxn{pid: pid, first: h.BaseOffset(), marker: -1})
	}
}

// beginsTxn reports whether a transactional batch from pid would open a
// transaction (apply adds it to open).
func (s *state) beginsTxn(pid int64) bool {
	pr := s.producers[pid]
	return pr == nil || pr.txnFirst < 0
}

// producer returns pid's entry at epoch, making it or moving it to a newer
// epoch (which forgets the old epoch's batches).
func (s *state) producer(pid int64, epoch int16) *producer {
	pr := s.producers[pid]
	if pr == nil {
		pr = &producer{epoch: epoch, txnFirst: -1}
		s.producers[pid] = pr
	}
	if epoch > pr.epoch {
		pr.epoch, pr.batches = epoch, nil
	}
	return pr
}

// checkMarker refuses a marker from an epoch older than the producer's.
func (s *state) checkMarker(pid int64, epoch int16) *kerr.Error {
	if pr := s.producers[pid]; pr != nil && epoch < pr.epoch {
		return kerr.ProducerFenced
	}
	return nil
}

// applyMarker records a commit or abort marker appended at offset.
func (s *state) applyMarker(pid int64, epoch int16, commit bool, offset int64) {
	pr := s.producer(pid, epoch)
	if pr.txnFirst < 0 {
		return
	}
	for i := range s.open {
		if s.open[i].pid == pid && s.open[i].marker < 0 {
			s.open[i].marker = offset
		}
	}
	if !commit {
		s.aborted = append(s.aborted, AbortedTxn{ProducerID: pid, FirstOffset: pr.txnFirst, LastOffset: offset})
	}
	pr.txnFirst = -1
}

// lso is the last stable offset given the high watermark: the first offset
// of the earliest transaction that is open (or whose marker is not yet
// below hw), else hw. It drops transactions that are fully visible.
func (s *state) lso(hw int64) int64 {
	lso := hw
	keep := s.open[:0]
	for _, o := range s.open {
		if o.marker >= 0 && o.marker < hw {
			continue
		}
		keep = append(keep, o)
		lso = min(lso, o.first)
	}
	clear(s.open[len(keep):])
	s.open = keep
	return lso
}

// abortedIn returns the aborted transactions that overlap [from, to): a
// read_committed consumer reading those offsets needs them.
func (s *state) abortedIn(from, to int64) []broker.AbortedTxn {
	var out []broker.AbortedTxn
	// aborted is ordered by LastOffset; skip those that end before from.
	lo, hi := 0, len(s.aborted)
	for lo < hi {
		m := (lo + hi) / 2
		if s.aborted[m].LastOffset < from {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for _, a := range s.aborted[lo:] {
		if a.FirstOffset < to {
			out = append(out, broker.AbortedTxn{ProducerID: a.ProducerID, FirstOffset: a.FirstOffset})
		}
	}
	return out
}

// trimAborted forgets aborted transactions that end before start (the log
// start offset).
func (s *state) trimAborted(start int64) {
	i := 0
	for i < len(s.aborted) && s.aborted[i].LastOffset < start {
		i++
	}
	if i > 0 {
		s.aborted = append(s.aborted[:0], s.aborted[i:]...)
	}
}

// active lists the producers for DescribeProducers, by producer id.
func (s *state) active() []broker.ActiveProducer {
	out := make([]broker.ActiveProducer, 0, len(s.producers))
	for pid, pr := range s.producers {
		ts := pr.lastTimestamp
		if ts == 0 {
			ts = -1
		}
		out = append(out, broker.ActiveProducer{ProducerID: pid, Epoch: pr.epoch, LastSequence: pr.lastSeq(),
			LastTimestamp: ts, TxnStartOffset: pr.txnFirst})
	}
	slices.SortFunc(out, func(a, b broker.ActiveProducer) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out
}

package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	hlog "github.com/heraldhq/herald/internal/log"
	"github.com/heraldhq/herald/internal/records"
)

// Partition is one partition of a topic: Herald is a single broker, so it
// is always the leader, at leader epoch 0.
//
// Its methods are the only way to a partition's log: Append for produced
// batches, Write for the batches the broker's coordinators build, Read for
// fetches, and the offsets and lookups below. Each append returns an
// Appended whose Durable says when the batch is durable and visible;
// storage errors are counted in the partition's health on the way out.
type Partition struct {
	Topic *Topic
	Index int32

	log     *hlog.Log
	prod    *ProducerState // the broker's; *prod is nil without one
	logger  *slog.Logger   // the broker's; never nil
	storage storageHealth
	traffic traffic
}

// Ack is what a producer waits for before its answer (the produce
// request's acks).
type Ack int8

const (
	// AckNone: the producer hears nothing (acks=0).
	AckNone Ack = iota
	// AckLeader: the answer follows the append (acks=1).
	AckLeader
	// AckAll: the answer waits until the batch is durable as the
	// topic's herald.durability says (acks=-1).
	AckAll
)

// ProducerState is the idempotence and transaction state that a partition
// consults for every batch carrying a producer id, and for the last
// stable offset and aborted transactions of every read_committed read
// (txn.Manager). Set it with Broker.SetProducerState before serving.
type ProducerState interface {
	// Check runs before a batch with a producer id is appended, after
	// the partition's own checks. Unless it returns an error or a
	// duplicate, it holds p's producer state until Done, which the
	// partition calls once the append returns.
	Check(p *Partition, h records.Header, b []byte) (ProducerCheck, error)
	// Done records the append's outcome (res is valid when err is nil)
	// and releases what Check holds.
	Done(c ProducerCheck, h records.Header, res hlog.AppendResult, err error)
	// LastStable is p's last stable offset.
	LastStable(p *Partition) (int64, error)
	// Aborted lists p's aborted transactions that overlap [from, to).
	Aborted(p *Partition, from, to int64) ([]AbortedTxn, error)
	// Producers lists p's active producers (DescribeProducers).
	Producers(p *Partition) ([]ActiveProducer, error)
}

// ActiveProducer is what a partition knows of one producer id.
type ActiveProducer struct {
	ProducerID int64
	Epoch      int16
	// LastSequence is the sequence of its last record, or -1.
	LastSequence int32
	// LastTimestamp is the max timestamp of its last batch appended since
	// the broker started, or -1.
	LastTimestamp int64
	// TxnStartOffset is the first offset of its open transaction, or -1.
	TxnStartOffset int64
}

// ProducerCheck is ProducerState.Check's verdict on a batch.
type ProducerCheck struct {
	// Duplicate is set when the batch repeats one already appended:
	// nothing is appended, and the answer is Original's offsets (and
	// durability: its Durable waits for the original's sync).
	Duplicate bool
	Original  hlog.AppendResult
	// State is the ProducerState's own, handed back to Done.
	State any
}

// AbortedTxn is an aborted transaction in a partition: read_committed
// consumers skip ProducerID's batches from FirstOffset to its abort
// marker.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
}

// Appended is the outcome of an append.
type Appended struct {
	BaseOffset, LastOffset int64
	LogStartOffset         int64
	// LogAppendTime is the time stamped into the batch on a topic with
	// message.timestamp.type=LogAppendTime, else -1.
	LogAppendTime int64
	// Duplicate: the batch repeated one already in the log; the offsets
	// are the original's and nothing was appended.
	Duplicate bool
	// Wait is set when the answer must wait for Durable: the producer
	// asked for AckAll and the topic's durability is always. Otherwise
	// the partition syncs by itself as the topic's durability says.
	Wait bool

	p   *Partition
	res hlog.AppendResult
}

// Durable blocks until the batch is durable and visible to readers, as the
// topic's durability says (at once unless it is always), leading the sync
// itself when none is running. A storage error is KAFKA_STORAGE_ERROR,
// recorded in the partition's health.
func (a *Appended) Durable() error {
	if a.p == nil {
		return nil
	}
	if err := a.p.log.WaitDurable(a.res); err != nil {
		return a.p.storageFailed(err)
	}
	return nil
}

// SyncSoon starts the batch's sync in the background, so that the syncs
// of several partitions run together; Durable then waits for it.
func (a *Appended) SyncSoon() {
	if a.p != nil {
		a.p.log.SyncSoon()
	}
}

func (p *Partition) appended(res hlog.AppendResult, logAppendTime int64) Appended {
	return Appended{BaseOffset: res.BaseOffset, LastOffset: res.LastOffset, LogStartOffset: res.LogStartOffset,
		LogAppendTime: logAppendTime, p: p, res: res}
}

// Append validates and appends one produced batch. It applies
// max.message.bytes, message.timestamp.type, schema validation and a
// compacted topic's keys, and the producer state's idempotence and
// transaction checks for a batch with a producer id. The batch is
// validated (CRC included) before the append time is stamped into it, so
// a corrupt batch is CORRUPT_MESSAGE whatever the topic's timestamp type.
//
// When the result's Wait is set, the caller answers only after Durable,
// which leads the sync; otherwise the partition has scheduled the sync
// itself (under durability always, a batch is visible once synced). A
// storage error is KAFKA_STORAGE_ERROR, recorded in the partition's
// storage health. b is modified (offsets, maybe the timestamp) and not
// retained.
func (p *Partition) Append(b []byte, now time.Time, ack Ack) (Appended, error) {
	st := p.Topic.state.Load()
	if err := p.checkProduce(b, st); err != nil {
		return Appended{}, err
	}
	logAppendTime := int64(-1)
	if st.settings.logAppendTime {
		logAppendTime = now.UnixMilli()
	}
	produce := hlog.Produce{LogAppendTime: logAppendTime, RequireKeys: st.settings.compact}
	var (
		res hlog.AppendResult
		dup bool
		err error
	)
	if ps := *p.prod; ps != nil && records.Header(b).ProducerID() >= 0 {
		res, dup, err = p.appendProducer(ps, b, produce)
	} else {
		res, err = p.appendLog(b, produce)
	}
	if err != nil {
		return Appended{}, err
	}
	a := p.appended(res, logAppendTime)
	if dup {
		a.Duplicate, a.LogAppendTime = true, -1
	} else {
		p.traffic.countIn(b)
	}
	if st.settings.always {
		if ack == AckAll {
			a.Wait = true
		} else {
			// Nobody waits for this one, but readers see it only
			// once synced.
			p.log.SyncSoon()
		}
	}
	return a, nil
}

// appendProducer appends a batch with a producer id between the producer
// state's Check and Done. A duplicate returns the original's result.
func (p *Partition) appendProducer(ps ProducerState, b []byte, produce hlog.Produce) (res hlog.AppendResult, dup bool, err error) {
	h := records.Header(b)
	c, err := ps.Check(p, h, b)
	if err != nil {
		return res, false, err
	}
	if c.Duplicate {
		res = c.Original
		res.LogStartOffset = p.log.LogStartOffset()
		return res, true, nil
	}
	res, err = p.appendLog(b, produce)
	ps.Done(c, h, res, err)
	return res, false, err
}

// appendLog appends to the log without waking the flusher (the caller
// either waits with Durable, which leads the sync, or kicks it) and maps
// its errors for the client.
func (p *Partition) appendLog(b []byte, produce hlog.Produce) (hlog.AppendResult, error) {
	res, err := p.log.AppendLazy(b, produce)
	if err != nil {
		if errors.Is(err, records.ErrCorrupt) || errors.Is(err, records.ErrInvalid) || errors.Is(err, hlog.ErrClosed) {
			return res, appendErr(err)
		}
		// Anything else the log returns is its files' doing (a full
		// disk, an I/O error, a short write), as Kafka treats any
		// IOException on append.
		return res, p.storageFailed(err)
	}
	p.storageOK()
	return res, nil
}

// checkProduce is what a produced batch must pass before the log's own
// validation: its size, its shape, and the topic's schema and registry
// checks.
func (p *Partition) checkProduce(b []byte, st *topicState) error {
	if len(b) > st.settings.maxMessageBytes {
		return kafkaErr(kerr.MessageTooLarge,
			fmt.Sprintf("batch of %d bytes exceeds max.message.bytes %d", len(b), st.settings.maxMessageBytes))
	}
	if err := checkProduceBatch(b); err != nil {
		return err
	}
	if st.settings.schemas || p.Topic.Name == RegistryTopic {
		// The schema and registry checks parse records: validate first,
		// so that they never read bytes the CRC has not vouched for.
		// The log validates again; only these topics pay twice. The
		// append time and the compacted topic's keys are applied by the
		// log in its own validation pass (hlog.Produce).
		if err := records.Validate(b); err != nil {
			return appendErr(err)
		}
	}
	if st.settings.schemas {
		if err := p.Topic.checkSchemas(b); err != nil {
			return err
		}
	}
	if p.Topic.Name == RegistryTopic {
		return checkRegistryRecords(b)
	}
	return nil
}

// Write appends a batch the broker built itself (a coordinator's records,
// a transaction marker): the log validates it, and its sync starts at
// once. The caller acknowledges what it wrote only after Durable.
func (p *Partition) Write(b []byte) (Appended, error) {
	res, err := p.log.AppendNoWait(b)
	if err != nil {
		if errors.Is(err, records.ErrCorrupt) || errors.Is(err, records.ErrInvalid) || errors.Is(err, hlog.ErrClosed) {
			return Appended{}, appendErr(err)
		}
		return Appended{}, p.storageFailed(err)
	}
	p.storageOK()
	return p.appended(res, -1), nil
}

// ReadRequest is what a fetch asks of one partition.
type ReadRequest struct {
	Offset   int64
	MaxBytes int
	// MinOne returns the first batch even if it exceeds MaxBytes
	// (KIP-74), so that a consumer always makes progress.
	MinOne bool
	// Committed reads at read_committed: only below the last stable
	// offset, with the aborted transactions the batches overlap.
	Committed bool
}

// ReadResult is what a fetch answers for one partition besides the bytes.
type ReadResult struct {
	HighWatermark, LastStable, LogStart int64
	// Aborted is set for a Committed read that returned batches (empty
	// otherwise).
	Aborted []AbortedTxn
}

// Read appends whole batches from r.Offset to dst and returns it with the
// offsets a fetch answers, all taken together: the high watermark first,
// then the last stable offset, then the bytes, so that neither offset is
// ahead of what was read. On error dst is returned unchanged.
func (p *Partition) Read(dst []byte, r ReadRequest) ([]byte, ReadResult, error) {
	start := len(dst)
	res := ReadResult{HighWatermark: p.log.HighWatermark(), LastStable: -1}
	lso, lerr := p.lastStable(res.HighWatermark)
	res.LastStable = lso
	out, err := p.log.Read(dst, r.Offset, r.MaxBytes, r.MinOne)
	if err == nil {
		err = lerr
	}
	if err == nil && r.Committed {
		out = out[:start+belowOffset(out[start:], lso)]
		res.Aborted, err = p.aborted(r.Offset, out[start:])
	}
	res.LogStart = p.log.LogStartOffset()
	if err != nil {
		return dst[:start], res, err
	}
	p.traffic.countOut(out[start:])
	return out, res, nil
}

// LastStable is the partition's last stable offset: the first offset of
// its earliest open transaction, or the high watermark.
func (p *Partition) LastStable() (int64, error) { return p.lastStable(p.log.HighWatermark()) }

func (p *Partition) lastStable(hw int64) (int64, error) {
	ps := *p.prod
	if ps == nil {
		return hw, nil
	}
	lso, err := ps.LastStable(p)
	return min(lso, hw), err
}

// aborted lists the aborted transactions that overlap the batches read
// from offset.
func (p *Partition) aborted(offset int64, read []byte) ([]AbortedTxn, error) {
	ps := *p.prod
	if ps == nil || len(read) == 0 {
		return nil, nil
	}
	return ps.Aborted(p, offset, lastOffset(read)+1)
}

// belowOffset returns the length of the prefix of whole batches in b whose
// base offsets are below off.
func belowOffset(b []byte, off int64) int {
	n := 0
	for {
		size, ok := records.PeekSize(b[n:])
		if !ok || n+size > len(b) || records.Header(b[n:]).BaseOffset() >= off {
			return n
		}
		n += size
	}
}

// lastOffset is the last offset of the last whole batch in b.
func lastOffset(b []byte) int64 {
	last := int64(-1)
	for n := 0; ; {
		size, ok := records.PeekSize(b[n:])
		if !ok || n+size > len(b) {
			return last
		}
		last = records.Header(b[n:]).LastOffset()
		n += size
	}
}

// Producers lists the partition's active producers, by producer id; none
// without a producer state.
func (p *Partition) Producers() ([]ActiveProducer, error) {
	ps := *p.prod
	if ps == nil {
		return nil, nil
	}
	return ps.Producers(p)
}

// Scan calls fn with every batch from offset on, in order; for the
// coordinators and the producer state rebuilding themselves from a log.
func (p *Partition) Scan(from int64, fn func(batch []byte) error) error { return p.log.Scan(from, fn) }

// HighWatermark is the offset after the last batch visible to readers.
func (p *Partition) HighWatermark() int64 { return p.log.HighWatermark() }

// LogEndOffset is the offset the next append gets.
func (p *Partition) LogEndOffset() int64 { return p.log.LogEndOffset() }

// LogStartOffset is the first offset still in the log.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }

// Size is the partition's size on disk in bytes.
func (p *Partition) Size() int64 { return p.log.Size() }

// Segments is the partition's segment count (the producer state takes a
// snapshot when it grows).
func (p *Partition) Segments() int { return p.log.Segments() }

// Dir is the partition's directory, where the producer state keeps its
// snapshot beside the segments.
func (p *Partition) Dir() string { return p.log.Dir() }

// Changed returns a channel closed at the next change of the high
// watermark (long-polling fetches wait on it).
func (p *Partition) Changed() <-chan struct{} { return p.log.Changed() }

// OffsetForTime is the first offset whose timestamp is at least ts, with
// that timestamp (ListOffsets by time).
func (p *Partition) OffsetForTime(ts int64) (offset, recordTs int64, found bool, err error) {
	return p.log.OffsetForTime(ts)
}

// MaxTimestamp is the offset and timestamp of the record with the largest
// timestamp (ListOffsets max-timestamp).
func (p *Partition) MaxTimestamp() (offset, ts int64, found bool, err error) {
	return p.log.MaxTimestamp()
}

// DeleteRecords moves the log start offset up to before (DeleteRecords)
// and returns the new log start offset.
func (p *Partition) DeleteRecords(before int64) (int64, error) { return p.log.DeleteRecords(before) }

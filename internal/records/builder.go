package records

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// RecordHeader is one record header, for AppendRecord. Kafka header keys
// are non-null strings, so a nil Key is written as empty; a nil Value is
// written as null.
type RecordHeader struct {
	Key, Value []byte
}

// AppendRecord appends r encoded as a v2 record, length prefix included. It
// writes r.Headers when that is non-nil, and otherwise the headers r was
// decoded with (none for a Record built by hand), so a record from Iter
// re-encodes to the same bytes. Raw is ignored.
func AppendRecord(dst []byte, r *Record) []byte {
	dst = binary.AppendVarint(dst, int64(recordBodySize(r)))
	dst = append(dst, byte(r.Attributes))
	dst = binary.AppendVarint(dst, r.TimestampDelta)
	dst = binary.AppendVarint(dst, int64(r.OffsetDelta))
	dst = appendNullable(dst, r.Key)
	dst = appendNullable(dst, r.Value)
	if r.Headers == nil {
		dst = binary.AppendVarint(dst, int64(r.nheader))
		return append(dst, r.headers...)
	}
	dst = binary.AppendVarint(dst, int64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = binary.AppendVarint(dst, int64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendNullable(dst, h.Value)
	}
	return dst
}

// recordBodySize is the size of r's encoding after the length prefix.
func recordBodySize(r *Record) int {
	n := 1 + varintSize(r.TimestampDelta) + varintSize(int64(r.OffsetDelta)) +
		nullableSize(r.Key) + nullableSize(r.Value)
	if r.Headers == nil {
		return n + varintSize(int64(r.nheader)) + len(r.headers)
	}
	n += varintSize(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += varintSize(int64(len(h.Key))) + len(h.Key) + nullableSize(h.Value)
	}
	return n
}

// appendNullable appends a varint length and b; nil is length -1.
func appendNullable(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

func nullableSize(b []byte) int {
	if b == nil {
		return 1
	}
	return varintSize(int64(len(b))) + len(b)
}

// varintSize is the size of v as a zig-zag varint.
func varintSize(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	return (bits.Len64(u|1) + 6) / 7
}

// BatchSpec is the header of a batch to build. AppendBatch computes the
// batch length, magic, CRC and record count.
type BatchSpec struct {
	BaseOffset    int64
	LeaderEpoch   int32
	Attributes    int16 // codec bits included
	BaseTimestamp int64
	MaxTimestamp  int64
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	// LastOffsetDelta is -1 to use the last record's offset delta. It may
	// exceed it: a compacted batch keeps its original last offset.
	LastOffsetDelta int32
}

// Codec is the compression codec the attributes name.
func (s *BatchSpec) Codec() Codec { return Codec(s.Attributes & AttrCodecMask) }

// AppendBatch appends a v2 batch holding count records, whose encodings
// (as AppendRecord writes them) are concatenated in rawRecords. It
// compresses them with the spec's codec and computes the CRC. The records'
// offset deltas must increase and stay within LastOffsetDelta, so the
// result passes ValidateStored, and Validate too when the deltas are
// 0..count-1. Errors wrap ErrInvalid; on error dst is returned unchanged.
func AppendBatch(dst []byte, spec BatchSpec, rawRecords []byte, count int) ([]byte, error) {
	last, err := checkSpec(&spec, rawRecords, count)
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	dst, err = Compress(spec.Codec(), dst, rawRecords)
	if err != nil {
		return dst[:start], err
	}
	size := len(dst) - start - LengthPrefix
	if size > math.MaxInt32 {
		return dst[:start], invalid("batch of %d bytes is too large", size)
	}
	b := dst[start:]
	putHeader(b, &spec, last, int32(count), int32(size))
	SetCRC(b)
	return dst, nil
}

// checkSpec checks what AppendBatch can get wrong and returns the
// lastOffsetDelta to write.
func checkSpec(spec *BatchSpec, raw []byte, count int) (int32, error) {
	if c := spec.Codec(); c > CodecZstd {
		return 0, invalid("unknown compression codec %d", c)
	}
	if count < 1 || count > math.MaxInt32 {
		return 0, invalid("record count %d out of range", count)
	}
	if spec.Attributes&AttrControl != 0 && count != 1 {
		return 0, invalid("control batch with %d records", count)
	}
	limit := spec.LastOffsetDelta
	if limit == -1 {
		limit = math.MaxInt32
	}
	last, err := walkRecords(raw, count, limit, false)
	if err != nil || spec.LastOffsetDelta == -1 {
		return last, err
	}
	return spec.LastOffsetDelta, nil
}

func putHeader(b []byte, spec *BatchSpec, lastDelta, count, size int32) {
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(spec.BaseOffset))
	be.PutUint32(b[offBatchLength:], uint32(size))
	be.PutUint32(b[offLeaderEpoch:], uint32(spec.LeaderEpoch))
	b[offMagic] = Magic
	be.PutUint16(b[offAttributes:], uint16(spec.Attributes))
	be.PutUint32(b[offLastOffsetDelta:], uint32(lastDelta))
	be.PutUint64(b[offBaseTimestamp:], uint64(spec.BaseTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(spec.MaxTimestamp))
	be.PutUint64(b[offProducerID:], uint64(spec.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(spec.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(spec.BaseSequence))
	be.PutUint32(b[offRecordCount:], uint32(count))
}

// NewBatch builds a batch as a producer would: record i gets offset delta
// i, LastOffsetDelta is derived, and a zero MaxTimestamp becomes the
// largest record timestamp. Errors (a spec AppendBatch refuses, a batch
// too large) wrap ErrInvalid. The server's paths build their batches with
// it.
func NewBatch(spec BatchSpec, recs ...Record) ([]byte, error) {
	var raw []byte
	maxDelta := int64(math.MinInt64)
	for i := range recs {
		r := recs[i]
		r.OffsetDelta = int32(i)
		raw = AppendRecord(raw, &r)
		maxDelta = max(maxDelta, r.TimestampDelta)
	}
	spec.LastOffsetDelta = -1
	if spec.MaxTimestamp == 0 && len(recs) > 0 {
		spec.MaxTimestamp = spec.BaseTimestamp + maxDelta
	}
	return AppendBatch(nil, spec, raw, len(recs))
}

// BuildBatch is NewBatch for tests: it panics on error.
func BuildBatch(spec BatchSpec, recs ...Record) []byte {
	b, err := NewBatch(spec, recs...)
	if err != nil {
		panic(err)
	}
	return b
}

// KeyValueBatch builds an uncompressed batch of key/value records stamped
// nowMs, as the broker writes to its internal topics (__consumer_offsets,
// __transaction_state).
func KeyValueBatch(nowMs int64, kvs [][2][]byte) ([]byte, error) {
	recs := make([]Record, len(kvs))
	for i, kv := range kvs {
		recs[i] = Record{Key: kv[0], Value: kv[1]}
	}
	return NewBatch(BatchSpec{BaseTimestamp: nowMs, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs...)
}

// EachRecord calls fn with every record of a non-control batch; control
// batches are skipped. scratch is used and returned as Decode uses it.
func EachRecord(batch, scratch []byte, fn func(r *Record)) ([]byte, error) {
	if Header(batch).IsControl() {
		return scratch, nil
	}
	it, scratch, err := Decode(batch, scratch)
	if err != nil {
		return scratch, err
	}
	for it.Next() {
		fn(it.Record())
	}
	return scratch, it.Err()
}

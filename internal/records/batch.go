// Package records reads, checks and writes Kafka RecordBatch v2 bytes: the
// unit that producers send, the log stores and consumers fetch.
//
// A batch on the wire and on disk (all integers big-endian):
//
//	offset  size  field
//	     0     8  baseOffset             set by the broker; outside the CRC
//	     8     4  batchLength            bytes after this field
//	    12     4  partitionLeaderEpoch   set by the broker; outside the CRC
//	    16     1  magic                  2
//	    17     4  crc                    CRC-32C of bytes 21..end
//	    21     2  attributes             bits 0-2 codec, 3 timestamp type,
//	                                     4 transactional, 5 control
//	    23     4  lastOffsetDelta
//	    27     8  baseTimestamp
//	    35     8  maxTimestamp
//	    43     8  producerId
//	    51     2  producerEpoch
//	    53     4  baseSequence
//	    57     4  recordCount
//	    61     …  records (compressed as a whole when codec != 0)
//
// Because the CRC starts at attributes, a broker can write the base offset
// and the leader epoch into a batch without checksumming it again.
//
// Usage:
//
//	if err := records.Validate(b); err != nil {
//		return err // errors.Is(err, records.ErrCorrupt) for a bad CRC
//	}
//	h := records.Header(b)
//	records.SetBaseOffset(b, next)
//	next += int64(h.LastOffsetDelta()) + 1
//
// Reading the records of a stored batch, compressed or not. scratch is
// reused across calls; records alias b or scratch:
//
//	it, scratch, err := records.Decode(b, scratch)
//	if err != nil {
//		return err
//	}
//	for it.Next() {
//		r := it.Record() // overwritten by the next call to Next
//		offset := records.Header(b).BaseOffset() + int64(r.OffsetDelta)
//		...
//	}
//
// Compacting a batch: keep the latest record for each key. out gets a
// batch with the same offsets, codec and producer fields, or nothing when
// kept is 0:
//
//	out, scratch, kept, err := records.Filter(out[:0], b, scratch,
//		func(r *records.Record, offset, ts int64) bool {
//			return latest[string(r.Key)] == offset
//		})
//
// Building a batch, as a producer does:
//
//	var raw []byte
//	for i, v := range values {
//		raw = records.AppendRecord(raw, &records.Record{OffsetDelta: int32(i), Value: v})
//	}
//	b, err := records.AppendBatch(nil, records.BatchSpec{
//		Attributes: int16(records.CodecZstd), BaseTimestamp: now, MaxTimestamp: now,
//		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, LastOffsetDelta: -1,
//	}, raw, len(values))
package records

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Positions of the header fields. Part of the wire format; do not change.
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	// HeaderSize is the size of the batch header, up to the records.
	HeaderSize = 61
	// LengthPrefix is the size of baseOffset and batchLength, which
	// batchLength does not count.
	LengthPrefix = 12
	// Magic is the only batch format Herald stores.
	Magic = 2
)

// Attribute bits. Part of the wire format; do not change.
const (
	AttrCodecMask     = 0x07
	AttrLogAppendTime = 0x08
	AttrTransactional = 0x10
	AttrControl       = 0x20
)

// Codec is a compression codec, as attribute bits 0-2 name it.
type Codec int8

// The codecs Kafka defines.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors returned by Validate. Each wraps ErrInvalid; a checksum mismatch
// also wraps ErrCorrupt.
var (
	// ErrInvalid marks a batch that is not a well-formed v2 batch.
	ErrInvalid = errors.New("invalid record batch")
	// ErrCorrupt marks a batch whose CRC does not match its bytes.
	ErrCorrupt = errors.New("corrupt record batch")
)

// BatchError describes why a batch was rejected.
type BatchError struct {
	Reason  string
	corrupt bool
}

func (e *BatchError) Error() string { return "record batch: " + e.Reason }

// Is lets errors.Is match ErrInvalid, and ErrCorrupt for checksum errors.
func (e *BatchError) Is(target error) bool {
	return target == ErrInvalid || (e.corrupt && target == ErrCorrupt)
}

func invalid(format string, args ...any) error {
	return &BatchError{Reason: fmt.Sprintf(format, args...)}
}

// Header gives typed access to a batch's header fields. It must be at least
// HeaderSize bytes long.
type Header []byte

// BaseOffset is the offset of the first record.
func (h Header) BaseOffset() int64 { return int64(binary.BigEndian.Uint64(h[offBaseOffset:])) }

// BatchLength is the number of bytes after the length field.
func (h Header) BatchLength() int32 { return int32(binary.BigEndian.Uint32(h[offBatchLength:])) }

// Size is the size of the whole batch in bytes.
func (h Header) Size() int { return int(h.BatchLength()) + LengthPrefix }

// LeaderEpoch is the partition leader epoch the broker wrote.
func (h Header) LeaderEpoch() int32 { return int32(binary.BigEndian.Uint32(h[offLeaderEpoch:])) }

// Magic is the format version.
func (h Header) Magic() int8 { return int8(h[offMagic]) }

// CRC is the stored checksum.
func (h Header) CRC() uint32 { return binary.BigEndian.Uint32(h[offCRC:]) }

// Attributes are the attribute bits.
func (h Header) Attributes() int16 { return int16(binary.BigEndian.Uint16(h[offAttributes:])) }

// Codec is the compression codec of the records.
func (h Header) Codec() Codec { return Codec(h.Attributes() & AttrCodecMask) }

// IsControl reports whether the batch holds a transaction marker.
func (h Header) IsControl() bool { return h.Attributes()&AttrControl != 0 }

// IsTransactional reports whether the batch is part of a transaction.
func (h Header) IsTransactional() bool { return h.Attributes()&AttrTransactional != 0 }

// LastOffsetDelta is the offset of the last record relative to BaseOffset.
func (h Header) LastOffsetDelta() int32 {
	return int32(binary.BigEndian.Uint32(h[offLastOffsetDelta:]))
}

// LastOffset is BaseOffset + LastOffsetDelta.
func (h Header) LastOffset() int64 { return h.BaseOffset() + int64(h.LastOffsetDelta()) }

// BaseTimestamp is the first record's timestamp in milliseconds.
func (h Header) BaseTimestamp() int64 { return int64(binary.BigEndian.Uint64(h[offBaseTimestamp:])) }

// MaxTimestamp is the largest record timestamp in milliseconds.
func (h Header) MaxTimestamp() int64 { return int64(binary.BigEndian.Uint64(h[offMaxTimestamp:])) }

// ProducerID is the idempotent producer's id, or -1.
func (h Header) ProducerID() int64 { return int64(binary.BigEndian.Uint64(h[offProducerID:])) }

// ProducerEpoch is the idempotent producer's epoch, or -1.
func (h Header) ProducerEpoch() int16 { return int16(binary.BigEndian.Uint16(h[offProducerEpoch:])) }

// BaseSequence is the first record's sequence number, or -1.
func (h Header) BaseSequence() int32 { return int32(binary.BigEndian.Uint32(h[offBaseSequence:])) }

// RecordCount is the number of records.
func (h Header) RecordCount() int32 { return int32(binary.BigEndian.Uint32(h[offRecordCount:])) }

// SetBaseOffset writes the base offset; the CRC stays valid.
func SetBaseOffset(b []byte, off int64) { binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off)) }

// SetLeaderEpoch writes the leader epoch; the CRC stays valid.
func SetLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime sets the timestamp type to LogAppendTime with the given
// time as maxTimestamp, as Kafka brokers do, and recomputes the CRC.
func SetLogAppendTime(b []byte, ms int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | AttrLogAppendTime
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ms))
	SetCRC(b)
}

// SetCRC recomputes and stores the checksum of a whole batch.
func SetCRC(b []byte) {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}

// CheckCRC reports whether the stored checksum matches the batch's bytes.
func CheckCRC(b []byte) bool {
	return crc32.Checksum(b[offAttributes:], castagnoli) == binary.BigEndian.Uint32(b[offCRC:])
}

// PeekSize returns the size of the batch that starts b, from its length
// field, when at least LengthPrefix bytes are present.
func PeekSize(b []byte) (int, bool) {
	if len(b) < LengthPrefix {
		return 0, false
	}
	n := int32(binary.BigEndian.Uint32(b[offBatchLength:]))
	if n < HeaderSize-LengthPrefix {
		return 0, false
	}
	return int(n) + LengthPrefix, true
}

// Validate checks that b is exactly one well-formed v2 batch: magic, length
// fields, CRC-32C, record count, offset deltas, and, for uncompressed
// batches, that every record parses and the offset deltas run 0..count-1.
// It does not allocate.
func Validate(b []byte) error {
	if len(b) < HeaderSize {
		return invalid("%d bytes is shorter than a batch header (%d)", len(b), HeaderSize)
	}
	h := Header(b)
	if m := h.Magic(); m != Magic {
		return invalid("magic %d, want %d", m, Magic)
	}
	if n := h.Size(); n != len(b) {
		return invalid("batchLength says %d bytes, have %d", n, len(b))
	}
	if !CheckCRC(b) {
		return &BatchError{Reason: fmt.Sprintf("CRC mismatch: stored %#08x, computed %#08x",
			h.CRC(), crc32.Checksum(b[offAttributes:], castagnoli)), corrupt: true}
	}
	return validateBody(h, b, true)
}

// ValidateStored is Validate for batches the log wrote itself: compaction
// leaves gaps between offset deltas, so lastOffsetDelta may exceed
// recordCount-1.
func ValidateStored(b []byte) error {
	if err := ValidateHeader(b); err != nil {
		return err
	}
	if n := Header(b).Size(); n != len(b) {
		return invalid("batchLength says %d bytes, have %d", n, len(b))
	}
	if !CheckCRC(b) {
		return &BatchError{Reason: "CRC mismatch", corrupt: true}
	}
	return validateBody(Header(b), b, false)
}

// ValidateHeader checks what Validate checks except the CRC and the records;
// recovery uses it to find where a batch ends before paying for the CRC.
func ValidateHeader(b []byte) error {
	if len(b) < HeaderSize {
		return invalid("%d bytes is shorter than a batch header", len(b))
	}
	h := Header(b)
	if m := h.Magic(); m != Magic {
		return invalid("magic %d, want %d", m, Magic)
	}
	if h.BatchLength() < HeaderSize-LengthPrefix {
		return invalid("batchLength %d is too small", h.BatchLength())
	}
	return nil
}

func validateBody(h Header, b []byte, contiguous bool) error {
	count := h.RecordCount()
	delta := h.LastOffsetDelta()
	if count < 0 {
		return invalid("negative record count %d", count)
	}
	if count == 0 {
		// Compaction can leave a batch empty only if we wrote it, and we
		// never do; producers never send one.
		return invalid("empty batch")
	}
	if delta < count-1 || (contiguous && delta != count-1) {
		return invalid("lastOffsetDelta %d does not match recordCount %d", delta, count)
	}
	if h.Codec() > CodecZstd {
		return invalid("unknown compression codec %d", h.Codec())
	}
	if h.IsControl() && count != 1 {
		return invalid("control batch with %d records", count)
	}
	if h.Codec() != CodecNone {
		return nil
	}
	return checkRecords(b[HeaderSize:], int(count), delta, contiguous)
}

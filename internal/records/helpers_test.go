package records

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

// testRecords returns n records that cover the encoding's corners: null
// and empty keys, tombstones, headers with null values, negative and
// large timestamp deltas. OffsetDelta is i.
func testRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		r := &recs[i]
		r.OffsetDelta = int32(i)
		r.TimestampDelta = int64(i*7) - 3
		switch i % 5 {
		case 0:
			r.Key = nil // null key
			r.Value = []byte(fmt.Sprintf("value-%d", i))
		case 1:
			r.Key = []byte(fmt.Sprintf("key-%d", i%3))
			r.Value = nil // tombstone
		case 2:
			r.Key = []byte{}
			r.Value = []byte{}
			r.Headers = []RecordHeader{{Key: []byte("h1"), Value: []byte("v1")}, {Key: []byte("h2")}}
		case 3:
			r.Key = []byte(fmt.Sprintf("key-%d", i%3))
			r.Value = bytes.Repeat([]byte{byte(i)}, 300+i)
			r.TimestampDelta = 1 << 40
		default:
			r.Key, r.Value = nil, nil
			r.Headers = []RecordHeader{{Key: nil, Value: []byte("x")}}
		}
	}
	return recs
}

// textRecords returns n records with size-byte values of loosely
// compressible text, as a benchmark payload.
func textRecords(n, size int) []Record {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"herald", "kafka", "offset", "partition", "topic", "broker", "{\"id\":", "\"ts\":", "}, "}
	recs := make([]Record, n)
	for i := range recs {
		var v []byte
		for len(v) < size {
			v = append(v, words[rng.IntN(len(words))]...)
			v = fmt.Appendf(v, "%d ", rng.IntN(100000))
		}
		recs[i] = Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Key: fmt.Appendf(nil, "k%d", i), Value: v[:size]}
	}
	return recs
}

func testSpec(c Codec) BatchSpec {
	return BatchSpec{
		BaseOffset:      1000,
		LeaderEpoch:     7,
		Attributes:      int16(c),
		BaseTimestamp:   1_700_000_000_000,
		ProducerID:      42,
		ProducerEpoch:   3,
		BaseSequence:    17,
		LastOffsetDelta: -1,
	}
}

// encodeRecords concatenates the records' encodings.
func encodeRecords(recs []Record) []byte {
	var raw []byte
	for i := range recs {
		raw = AppendRecord(raw, &recs[i])
	}
	return raw
}

// rawBatch writes a batch around raw records without any checks, for
// building invalid batches. lastDelta and count go into the header as is.
func rawBatch(spec BatchSpec, raw []byte, count, lastDelta int32) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(raw))
	b = append(b, raw...)
	putHeader(b, &spec, lastDelta, count, int32(len(b)-LengthPrefix))
	SetCRC(b)
	return b
}

// decoded is a record copied out of a batch, for comparisons.
type decoded struct {
	Offset, Timestamp int64
	Attributes        int8
	Key, Value        []byte
	Headers           []RecordHeader
}

func decodeAll(t testing.TB, batch []byte) []decoded {
	t.Helper()
	it, _, err := Decode(batch, nil)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	h := Header(batch)
	var out []decoded
	for it.Next() {
		out = append(out, copyRecord(h, it.Record()))
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterate: %v", err)
	}
	return out
}

func copyRecord(h Header, r *Record) decoded {
	d := decoded{
		Offset:     h.BaseOffset() + int64(r.OffsetDelta),
		Timestamp:  recordTime(h, r),
		Attributes: r.Attributes,
		Key:        clone(r.Key),
		Value:      clone(r.Value),
	}
	r.EachHeader(func(k, v []byte) {
		d.Headers = append(d.Headers, RecordHeader{Key: clone(k), Value: clone(v)})
	})
	return d
}

// want is what decodeAll should return for recs built into a batch with
// spec by BuildBatch.
func want(spec BatchSpec, recs []Record) []decoded {
	out := make([]decoded, len(recs))
	for i, r := range recs {
		out[i] = decoded{
			Offset:     spec.BaseOffset + int64(i),
			Timestamp:  spec.BaseTimestamp + r.TimestampDelta,
			Attributes: r.Attributes,
			Key:        clone(r.Key),
			Value:      clone(r.Value),
		}
		for _, h := range r.Headers {
			k := h.Key
			if k == nil {
				k = []byte{}
			}
			out[i].Headers = append(out[i].Headers, RecordHeader{Key: k, Value: clone(h.Value)})
		}
	}
	return out
}

// clone copies b, keeping nil and empty apart.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func equalDecoded(a, b []decoded) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d records, want %d", len(a), len(b))
	}
	for i := range a {
		if err := equalRecord(a[i], b[i]); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
	}
	return nil
}

func equalRecord(a, b decoded) error {
	if a.Offset != b.Offset || a.Timestamp != b.Timestamp || a.Attributes != b.Attributes {
		return fmt.Errorf("offset/ts/attrs %d/%d/%d, want %d/%d/%d",
			a.Offset, a.Timestamp, a.Attributes, b.Offset, b.Timestamp, b.Attributes)
	}
	if !sameBytes(a.Key, b.Key) || !sameBytes(a.Value, b.Value) {
		return fmt.Errorf("key/value %q/%q, want %q/%q", a.Key, a.Value, b.Key, b.Value)
	}
	if len(a.Headers) != len(b.Headers) {
		return fmt.Errorf("%d headers, want %d", len(a.Headers), len(b.Headers))
	}
	for j := range a.Headers {
		if !sameBytes(a.Headers[j].Key, b.Headers[j].Key) || !sameBytes(a.Headers[j].Value, b.Headers[j].Value) {
			return fmt.Errorf("header %d: %q, want %q", j, a.Headers[j], b.Headers[j])
		}
	}
	return nil
}

// sameBytes is bytes.Equal that also tells nil from empty.
func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

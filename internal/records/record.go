package records

import (
	"encoding/binary"
)

// A record inside a batch's (decompressed) records section:
//
//	length          varint   bytes after this field
//	attributes      int8     unused, 0
//	timestampDelta  varlong  relative to the batch's baseTimestamp
//	offsetDelta     varint   relative to the batch's baseOffset
//	keyLength       varint   -1 for a null key
//	key             bytes
//	valueLength     varint   -1 for a null value (a tombstone)
//	value           bytes
//	headerCount     varint
//	headers         headerCount × (keyLength varint, key, valueLength varint, value)
//
// Varints are zig-zag encoded, as protobuf's sint32/sint64.

// Record is one decoded record. Key, Value and the header slices alias the
// buffer the record was read from.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte // nil for a null key
	Value          []byte // nil for a null value (tombstone)
	// Headers is what AppendRecord encodes when it is non-nil. Iter does
	// not fill it in; use HeaderCount and EachHeader on decoded records.
	Headers []RecordHeader
	// headers holds the decoded record's raw header pairs, after the
	// count varint; nheader is the count.
	headers []byte
	nheader int
	// Raw is the whole encoded record, length prefix included.
	Raw []byte
}

// HeaderCount is the number of headers.
func (r *Record) HeaderCount() int { return r.nheader }

// EachHeader calls fn for every header in order. Slices alias the buffer.
func (r *Record) EachHeader(fn func(key, value []byte)) {
	p := parser{b: r.headers}
	for i := 0; i < r.nheader; i++ {
		k := p.bytes()
		v := p.bytes()
		if p.err {
			return
		}
		fn(k, v)
	}
}

// parser is a sticky-error reader over a byte slice: after the first error
// every read returns zero values and err stays set.
type parser struct {
	b   []byte
	err bool
}

func (p *parser) varint() int64 {
	if p.err {
		return 0
	}
	v, n := binary.Varint(p.b)
	if n <= 0 {
		p.err = true
		return 0
	}
	p.b = p.b[n:]
	return v
}

func (p *parser) int8() int8 {
	if p.err || len(p.b) < 1 {
		p.err = true
		return 0
	}
	v := int8(p.b[0])
	p.b = p.b[1:]
	return v
}

// bytes reads a varint length and that many bytes; -1 is nil.
func (p *parser) bytes() []byte {
	n := p.varint()
	if p.err {
		return nil
	}
	if n == -1 {
		return nil
	}
	if n < 0 || n > int64(len(p.b)) {
		p.err = true
		return nil
	}
	v := p.b[:n:n]
	p.b = p.b[n:]
	return v
}

// Iter walks the records of an uncompressed records section.
//
//	it := records.NewIter(b[records.HeaderSize:], int(records.Header(b).RecordCount()))
//	for it.Next() { r := it.Record(); ... }
//	if err := it.Err(); err != nil { ... }
type Iter struct {
	p     parser
	left  int
	rec   Record
	err   error
	index int
}

// NewIter returns an iterator over count records in b.
func NewIter(b []byte, count int) Iter { return Iter{p: parser{b: b}, left: count} }

// Next decodes the next record; it returns false at the end or on error.
func (it *Iter) Next() bool {
	if it.left <= 0 || it.err != nil {
		if it.left <= 0 && it.err == nil && len(it.p.b) != 0 {
			it.err = invalid("%d trailing bytes after the last record", len(it.p.b))
		}
		return false
	}
	start := it.p.b
	length := it.p.varint()
	if it.p.err || length < 0 || length > int64(len(it.p.b)) {
		it.err = invalid("record %d: bad length", it.index)
		return false
	}
	hdrLen := len(start) - len(it.p.b)
	body := parser{b: it.p.b[:length]}
	it.p.b = it.p.b[length:]
	r := &it.rec
	r.Raw = start[:hdrLen+int(length)]
	r.Attributes = body.int8()
	r.TimestampDelta = body.varint()
	od := body.varint()
	r.OffsetDelta = int32(od)
	r.Key = body.bytes()
	r.Value = body.bytes()
	nh := body.varint()
	r.headers = body.b
	r.nheader = int(nh)
	// Each header takes at least two bytes; checking the count against
	// the bytes left keeps a huge count from spinning the loop below.
	if body.err || nh < 0 || nh > int64(len(body.b))/2 || od < 0 || od > 1<<31-1 {
		it.err = invalid("record %d: malformed", it.index)
		return false
	}
	for i := int64(0); i < nh; i++ {
		body.bytes()
		body.bytes()
	}
	if body.err || len(body.b) != 0 {
		it.err = invalid("record %d: malformed headers", it.index)
		return false
	}
	it.left--
	it.index++
	return true
}

// Record returns the current record; it is overwritten by Next.
func (it *Iter) Record() *Record { return &it.rec }

// Err returns the first error met, if any.
func (it *Iter) Err() error {
	if it.err == nil && it.left <= 0 && len(it.p.b) != 0 {
		return invalid("%d trailing bytes after the last record", len(it.p.b))
	}
	return it.err
}

// checkRecords walks count uncompressed records and checks their offset
// deltas: strictly increasing and at most lastDelta; with contiguous they
// must be exactly 0..count-1.
func checkRecords(b []byte, count int, lastDelta int32, contiguous bool) error {
	_, err := walkRecords(b, count, lastDelta, contiguous)
	return err
}

// walkRecords is checkRecords that also returns the last record's offset
// delta (-1 when count is 0). It checks what Iter checks, in a tighter loop
// that decodes only what validation needs: it runs on every produced batch.
func walkRecords(b []byte, count int, lastDelta int32, contiguous bool) (int32, error) {
	prev := int32(-1)
	for i := 0; i < count; i++ {
		length, n := varint(b)
		if n <= 0 || length < 0 || length > int64(len(b)-n) {
			return 0, invalid("record %d: bad length", i)
		}
		rec := b[n : n+int(length)]
		b = b[n+int(length):]
		d, ok := skimRecord(rec)
		if !ok {
			return 0, invalid("record %d: malformed", i)
		}
		if d <= int64(prev) || d > int64(lastDelta) || (contiguous && d != int64(prev)+1) {
			return 0, invalid("record %d has offset delta %d after %d", i, d, prev)
		}
		prev = int32(d)
	}
	if len(b) != 0 {
		return 0, invalid("%d trailing bytes after the last record", len(b))
	}
	return prev, nil
}

// skimRecord checks that a record body (after its length) parses exactly,
// and returns its offset delta.
func skimRecord(rec []byte) (int64, bool) {
	if len(rec) < 1 {
		return 0, false
	}
	rec = rec[1:] // attributes
	_, n := varint(rec)
	if n <= 0 {
		return 0, false
	}
	rec = rec[n:]
	od, n := varint(rec)
	if n <= 0 || od < 0 || od > 1<<31-1 {
		return 0, false
	}
	rec = rec[n:]
	var ok bool
	if rec, ok = skipBytes(rec); !ok {
		return 0, false
	}
	if rec, ok = skipBytes(rec); !ok {
		return 0, false
	}
	nh, n := varint(rec)
	if n <= 0 || nh < 0 || nh > int64(len(rec)) {
		return 0, false
	}
	rec = rec[n:]
	for ; nh > 0; nh-- {
		if rec, ok = skipBytes(rec); !ok {
			return 0, false
		}
		if rec, ok = skipBytes(rec); !ok {
			return 0, false
		}
	}
	return od, len(rec) == 0
}

// skipBytes skips a varint length (-1 for null) and that many bytes.
func skipBytes(b []byte) ([]byte, bool) {
	l, n := varint(b)
	if n <= 0 || l < -1 || l > int64(len(b)-n) {
		return nil, false
	}
	if l < 0 {
		l = 0
	}
	return b[n+int(l):], true
}

// varint is binary.Varint with a fast path for one-byte values, which most
// record fields are.
func varint(b []byte) (int64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		u := uint64(b[0])
		return int64(u>>1) ^ -int64(u&1), 1
	}
	return binary.Varint(b)
}

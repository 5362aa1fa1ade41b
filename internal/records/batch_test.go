package records

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	spec := testSpec(CodecNone)
	good := BuildBatch(spec, testRecords(5)...)
	raw := encodeRecords(testRecords(5))
	gapped := testRecords(3)
	gapped[1].OffsetDelta, gapped[2].OffsetDelta = 4, 9

	tests := []struct {
		name    string
		in      func() []byte
		stored  bool // ValidateStored accepts it
		corrupt bool // errors.Is(err, ErrCorrupt)
	}{
		{name: "good", in: func() []byte { return good }, stored: true},
		{name: "single record", in: func() []byte { return BuildBatch(spec, Record{Value: []byte("x")}) }, stored: true},
		{name: "empty", in: func() []byte { return nil }},
		{name: "short header", in: func() []byte { return good[:HeaderSize-1] }},
		{name: "truncated", in: func() []byte { return good[:len(good)-1] }},
		{name: "trailing byte", in: func() []byte { return append(clone(good), 0) }},
		{name: "bad magic", in: func() []byte { return with(good, func(b []byte) { b[offMagic] = 1 }) }},
		{name: "length too large", in: func() []byte {
			return with(good, func(b []byte) { put32(b, offBatchLength, int32(len(b))) })
		}},
		{name: "negative length", in: func() []byte {
			return with(good, func(b []byte) { put32(b, offBatchLength, -1) })
		}},
		{name: "crc flipped in records", corrupt: true, in: func() []byte {
			return with(good, func(b []byte) { b[len(b)-3] ^= 0x10 })
		}},
		{name: "crc flipped in attributes", corrupt: true, in: func() []byte {
			return with(good, func(b []byte) { b[offAttributes+1] ^= 0x01 })
		}},
		{name: "stored crc flipped", corrupt: true, in: func() []byte {
			return with(good, func(b []byte) { b[offCRC] ^= 0x80 })
		}},
		{name: "negative count", in: func() []byte { return rawBatch(spec, raw, -1, 4) }},
		{name: "zero count", in: func() []byte { return rawBatch(spec, nil, 0, -1) }},
		{name: "count too high", in: func() []byte { return rawBatch(spec, raw, 6, 5) }},
		{name: "count too low", in: func() []byte { return rawBatch(spec, raw, 4, 3) }},
		{name: "lastOffsetDelta beyond records", stored: true, in: func() []byte { return rawBatch(spec, raw, 5, 6) }},
		{name: "lastOffsetDelta below records", in: func() []byte { return rawBatch(spec, raw, 5, 3) }},
		{name: "negative lastOffsetDelta", in: func() []byte { return rawBatch(spec, raw, 5, -1) }},
		{name: "offset gaps", stored: true, in: func() []byte { return rawBatch(spec, encodeRecords(gapped), 3, 9) }},
		{name: "offset deltas repeat", in: func() []byte {
			recs := testRecords(3)
			recs[2].OffsetDelta = 1
			return rawBatch(spec, encodeRecords(recs), 3, 2)
		}},
		{name: "offset deltas start above 0", stored: true, in: func() []byte {
			recs := testRecords(2)
			recs[0].OffsetDelta, recs[1].OffsetDelta = 1, 2
			return rawBatch(spec, encodeRecords(recs), 2, 2)
		}},
		{name: "record length past end", in: func() []byte {
			return rawBatch(spec, []byte{0x7e, 0, 0, 0}, 1, 0)
		}},
		{name: "record length negative", in: func() []byte { return rawBatch(spec, []byte{0x01}, 1, 0) }},
		{name: "record body too short", in: func() []byte { return rawBatch(spec, []byte{0x04, 0, 0}, 1, 0) }},
		{name: "key length past record", in: func() []byte {
			// length 5: attrs, tsDelta 0, offsetDelta 0, keyLen 10, ...
			return rawBatch(spec, []byte{0x0a, 0, 0, 0, 0x14, 0}, 1, 0)
		}},
		{name: "negative header count", in: func() []byte {
			return rawBatch(spec, []byte{0x0c, 0, 0, 0, 1, 1, 0x01}, 1, 0)
		}},
		{name: "huge header count", in: func() []byte {
			r := []byte{0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f}
			return rawBatch(spec, append([]byte{byte(len(r) << 1)}, r...), 1, 0)
		}},
		{name: "bytes after last record in record", in: func() []byte {
			r := []byte{0, 0, 0, 1, 1, 0, 0xaa}
			return rawBatch(spec, append([]byte{byte(len(r) << 1)}, r...), 1, 0)
		}},
		{name: "bytes after last record", in: func() []byte { return rawBatch(spec, append(clone(raw), 0), 5, 4) }},
		{name: "unknown codec", in: func() []byte {
			s := spec
			s.Attributes = 5
			return rawBatch(s, raw, 5, 4)
		}},
		{name: "control batch with two records", in: func() []byte {
			s := spec
			s.Attributes = AttrControl
			return rawBatch(s, encodeRecords(testRecords(2)), 2, 1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.in()
			checkValidateErr(t, "Validate", Validate(b), tt.name == "good" || tt.name == "single record", tt.corrupt)
			checkValidateErr(t, "ValidateStored", ValidateStored(b), tt.stored, tt.corrupt)
		})
	}
}

func checkValidateErr(t *testing.T, what string, err error, ok, corrupt bool) {
	t.Helper()
	switch {
	case ok && err != nil:
		t.Fatalf("%s: %v", what, err)
	case !ok && err == nil:
		t.Fatalf("%s accepted a bad batch", what)
	case !ok && !errors.Is(err, ErrInvalid):
		t.Fatalf("%s: %v does not match ErrInvalid", what, err)
	case !ok && errors.Is(err, ErrCorrupt) != corrupt:
		t.Fatalf("%s: %v: errors.Is(ErrCorrupt) = %v, want %v", what, err, !corrupt, corrupt)
	}
}

// with returns a copy of b changed by fn.
func with(b []byte, fn func([]byte)) []byte {
	b = clone(b)
	fn(b)
	return b
}

func put32(b []byte, off int, v int32) { binary.BigEndian.PutUint32(b[off:], uint32(v)) }

func TestValidateHeaderCountIsBounded(t *testing.T) {
	// A record claiming 2^31 headers must be rejected at once, not walked.
	r := []byte{0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f}
	b := rawBatch(testSpec(CodecNone), append([]byte{byte(len(r) << 1)}, r...), 1, 0)
	done := make(chan error, 1)
	go func() { done <- Validate(b) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Validate accepted a record with 2^31 headers")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Validate did not return")
	}
}

func TestSetBaseOffsetKeepsCRC(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			b := BuildBatch(testSpec(c), testRecords(4)...)
			SetBaseOffset(b, 1<<40)
			SetLeaderEpoch(b, 99)
			if err := Validate(b); err != nil {
				t.Fatal(err)
			}
			if h := Header(b); h.BaseOffset() != 1<<40 || h.LastOffset() != 1<<40+3 || h.LeaderEpoch() != 99 {
				t.Fatalf("base %d last %d epoch %d", h.BaseOffset(), h.LastOffset(), h.LeaderEpoch())
			}
		})
	}
}

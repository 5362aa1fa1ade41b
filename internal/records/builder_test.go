package records

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"testing"
)

func TestBuildDecodeRoundTrip(t *testing.T) {
	for _, c := range allCodecs {
		for _, n := range []int{1, 2, 10, 300} {
			t.Run(c.String()+"/"+strconv.Itoa(n), func(t *testing.T) {
				spec := testSpec(c)
				recs := testRecords(n)
				b := BuildBatch(spec, recs...)
				if err := Validate(b); err != nil {
					t.Fatal(err)
				}
				checkHeader(t, b, spec, n)
				if err := equalDecoded(decodeAll(t, b), want(spec, recs)); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func checkHeader(t *testing.T, b []byte, spec BatchSpec, n int) {
	t.Helper()
	h := Header(b)
	maxTs := int64(math.MinInt64)
	for _, r := range testRecords(n) {
		maxTs = max(maxTs, spec.BaseTimestamp+r.TimestampDelta)
	}
	switch {
	case h.BaseOffset() != spec.BaseOffset, h.LeaderEpoch() != spec.LeaderEpoch,
		h.Attributes() != spec.Attributes, h.Codec() != spec.Codec():
		t.Fatalf("offset/epoch/attrs %d/%d/%d", h.BaseOffset(), h.LeaderEpoch(), h.Attributes())
	case h.BaseTimestamp() != spec.BaseTimestamp, h.MaxTimestamp() != maxTs:
		t.Fatalf("timestamps %d/%d, want %d/%d", h.BaseTimestamp(), h.MaxTimestamp(), spec.BaseTimestamp, maxTs)
	case h.ProducerID() != spec.ProducerID, h.ProducerEpoch() != spec.ProducerEpoch,
		h.BaseSequence() != spec.BaseSequence:
		t.Fatalf("producer %d/%d/%d", h.ProducerID(), h.ProducerEpoch(), h.BaseSequence())
	case h.RecordCount() != int32(n), h.LastOffsetDelta() != int32(n-1), h.Size() != len(b):
		t.Fatalf("count %d lastDelta %d size %d", h.RecordCount(), h.LastOffsetDelta(), h.Size())
	}
}

func TestAppendRecordReencodesDecoded(t *testing.T) {
	b := BuildBatch(testSpec(CodecNone), testRecords(10)...)
	it, _, err := Decode(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	for it.Next() {
		r := it.Record()
		if got := AppendRecord(nil, r); !bytes.Equal(got, r.Raw) {
			t.Fatalf("record %d: re-encoded\n% x\nwant\n% x", r.OffsetDelta, got, r.Raw)
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestAppendBatchErrors(t *testing.T) {
	raw := encodeRecords(testRecords(3))
	tests := []struct {
		name  string
		spec  func(*BatchSpec)
		raw   []byte
		count int
	}{
		{name: "unknown codec", spec: func(s *BatchSpec) { s.Attributes = 6 }, raw: raw, count: 3},
		{name: "zero records", raw: nil, count: 0},
		{name: "count too high", raw: raw, count: 4},
		{name: "count too low", raw: raw, count: 2},
		{name: "malformed records", raw: raw[:len(raw)-1], count: 3},
		{name: "lastOffsetDelta below records", spec: func(s *BatchSpec) { s.LastOffsetDelta = 1 }, raw: raw, count: 3},
		{name: "lastOffsetDelta below -1", spec: func(s *BatchSpec) { s.LastOffsetDelta = -2 }, raw: raw, count: 3},
		{name: "control batch of 3", spec: func(s *BatchSpec) { s.Attributes |= AttrControl }, raw: raw, count: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testSpec(CodecZstd)
			if tt.spec != nil {
				tt.spec(&spec)
			}
			out, err := AppendBatch([]byte("dst"), spec, tt.raw, tt.count)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if string(out) != "dst" {
				t.Fatalf("dst changed: %q", out)
			}
		})
	}
}

func TestAppendBatchGaps(t *testing.T) {
	recs := testRecords(3)
	recs[0].OffsetDelta, recs[1].OffsetDelta, recs[2].OffsetDelta = 2, 5, 6
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			spec := testSpec(c)
			spec.LastOffsetDelta = 9
			b, err := AppendBatch([]byte("dst"), spec, encodeRecords(recs), 3)
			if err != nil {
				t.Fatal(err)
			}
			b = b[3:]
			if err := ValidateStored(b); err != nil {
				t.Fatal(err)
			}
			if Validate(b) == nil {
				t.Fatal("Validate accepted offset gaps")
			}
			if h := Header(b); h.LastOffsetDelta() != 9 || h.RecordCount() != 3 {
				t.Fatalf("lastDelta %d count %d", h.LastOffsetDelta(), h.RecordCount())
			}
			got := decodeAll(t, b)
			for i, d := range []int64{2, 5, 6} {
				if got[i].Offset != spec.BaseOffset+d {
					t.Fatalf("record %d at offset %d", i, got[i].Offset)
				}
			}
		})
	}
}

func TestDecodeCompressedErrors(t *testing.T) {
	raw := encodeRecords(testRecords(3))
	for _, c := range allCodecs[1:] {
		spec := testSpec(c)
		comp, _ := Compress(c, nil, raw)
		short, _ := Compress(c, nil, raw[:len(raw)-1])
		gapped := testRecords(3)
		gapped[2].OffsetDelta = 1
		dup, _ := Compress(c, nil, encodeRecords(gapped))
		tests := map[string][]byte{
			"garbage":           rawBatch(spec, []byte("not compressed at all"), 3, 2),
			"truncated stream":  rawBatch(spec, comp[:len(comp)-3], 3, 2),
			"malformed records": rawBatch(spec, short, 3, 2),
			"count too high":    rawBatch(spec, comp, 4, 3),
			"repeated delta":    rawBatch(spec, dup, 3, 2),
			"delta beyond last": rawBatch(spec, comp, 3, 1),
		}
		for name, b := range tests {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				if _, _, err := Decode(b, nil); !errors.Is(err, ErrInvalid) {
					t.Fatalf("Decode: err = %v, want ErrInvalid", err)
				}
			})
		}
	}
}

func TestDecodeReusesScratch(t *testing.T) {
	b := BuildBatch(testSpec(CodecLZ4), testRecords(20)...)
	scratch := make([]byte, 0, 64<<10)
	it, out, err := Decode(b, scratch)
	if err != nil {
		t.Fatal(err)
	}
	if &out[:1][0] != &scratch[:1][0] {
		t.Fatal("Decode did not decompress into scratch")
	}
	n := 0
	for it.Next() {
		n++
	}
	if it.Err() != nil || n != 20 {
		t.Fatalf("%d records, %v", n, it.Err())
	}
}

package records

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestFilter(t *testing.T) {
	tests := []struct {
		name string
		keep func(r *Record, rel int) bool // rel is the offset delta
	}{
		{"all", func(*Record, int) bool { return true }},
		{"none", func(*Record, int) bool { return false }},
		{"evens", func(_ *Record, rel int) bool { return rel%2 == 0 }},
		{"first only", func(_ *Record, rel int) bool { return rel == 0 }},
		{"all but last", func(_ *Record, rel int) bool { return rel != 9 }},
		{"last only", func(_ *Record, rel int) bool { return rel == 9 }},
		{"tombstones", func(r *Record, _ int) bool { return r.Value == nil }},
		{"null keys", func(r *Record, _ int) bool { return r.Key == nil }},
		{"non-tombstones with keys", func(r *Record, _ int) bool { return r.Value != nil && r.Key != nil }},
		{"big timestamp dropped", func(r *Record, _ int) bool { return r.TimestampDelta < 1<<40 }},
	}
	for _, c := range allCodecs {
		for _, tt := range tests {
			t.Run(c.String()+"/"+tt.name, func(t *testing.T) {
				checkFilter(t, c, 0, func(r *Record, off int64) bool {
					return tt.keep(r, int(off-testSpec(c).BaseOffset))
				})
			})
		}
	}
}

func TestFilterLogAppendTime(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			checkFilter(t, c, AttrLogAppendTime, func(_ *Record, off int64) bool { return off%4 == 1 })
		})
	}
}

func TestFilterTransactional(t *testing.T) {
	checkFilter(t, CodecZstd, AttrTransactional, func(_ *Record, off int64) bool { return off%3 == 0 })
}

// checkFilter filters a 10-record batch and checks the result against a
// model: the records keep accepts, each at its original offset and time.
func checkFilter(t *testing.T, c Codec, attrs int16, keep func(*Record, int64) bool) {
	t.Helper()
	spec := testSpec(c)
	spec.Attributes |= attrs
	b := BuildBatch(spec, testRecords(10)...)
	if attrs&AttrLogAppendTime != 0 {
		SetLogAppendTime(b, 1_800_000_000_000)
	}
	var model []decoded
	for _, d := range decodeAll(t, b) {
		r := Record{Key: d.Key, Value: d.Value, TimestampDelta: d.Timestamp - spec.BaseTimestamp}
		if keep(&r, d.Offset) {
			model = append(model, d)
		}
	}
	dst := []byte("prefix")
	out, _, kept, err := Filter(dst, b, nil, func(r *Record, off, ts int64) bool {
		if want := recordTime(Header(b), r); ts != want {
			t.Errorf("keep got timestamp %d, want %d", ts, want)
		}
		return keep(r, off)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, dst) || kept != len(model) {
		t.Fatalf("kept %d, want %d", kept, len(model))
	}
	out = out[len(dst):]
	checkFiltered(t, b, out, model)
}

func checkFiltered(t *testing.T, orig, out []byte, model []decoded) {
	t.Helper()
	switch {
	case len(model) == 0:
		if len(out) != 0 {
			t.Fatalf("kept nothing but appended %d bytes", len(out))
		}
		return
	case len(model) == int(Header(orig).RecordCount()):
		if !bytes.Equal(out, orig) {
			t.Fatal("kept everything but changed the batch")
		}
	}
	if err := ValidateStored(out); err != nil {
		t.Fatal(err)
	}
	if !CheckCRC(out) {
		t.Fatal("CRC does not match")
	}
	checkFilteredHeader(t, Header(orig), Header(out), model)
	if err := equalDecoded(decodeAll(t, out), model); err != nil {
		t.Fatal(err)
	}
}

func checkFilteredHeader(t *testing.T, h, f Header, model []decoded) {
	t.Helper()
	maxTs := int64(math.MinInt64)
	for _, d := range model {
		maxTs = max(maxTs, d.Timestamp)
	}
	if h.Attributes()&AttrLogAppendTime != 0 {
		maxTs = h.MaxTimestamp()
	}
	switch {
	case f.BaseOffset() != h.BaseOffset(), f.LastOffsetDelta() != h.LastOffsetDelta(),
		f.LeaderEpoch() != h.LeaderEpoch(), f.Attributes() != h.Attributes():
		t.Fatalf("base %d lastDelta %d epoch %d attrs %d", f.BaseOffset(), f.LastOffsetDelta(), f.LeaderEpoch(), f.Attributes())
	case f.BaseTimestamp() != h.BaseTimestamp(), f.MaxTimestamp() != maxTs:
		t.Fatalf("timestamps %d/%d, want %d/%d", f.BaseTimestamp(), f.MaxTimestamp(), h.BaseTimestamp(), maxTs)
	case f.ProducerID() != h.ProducerID(), f.ProducerEpoch() != h.ProducerEpoch(),
		f.BaseSequence() != h.BaseSequence():
		t.Fatalf("producer %d/%d/%d", f.ProducerID(), f.ProducerEpoch(), f.BaseSequence())
	case f.RecordCount() != int32(len(model)):
		t.Fatalf("count %d, want %d", f.RecordCount(), len(model))
	}
}

func TestFilterTwiceAndScratchReuse(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			b := BuildBatch(testSpec(c), testRecords(30)...)
			var scratch []byte
			var err error
			for _, mod := range []int64{2, 3} {
				var kept int
				b, scratch, kept, err = Filter(nil, b, scratch, func(_ *Record, off, _ int64) bool { return off%mod == 0 })
				if err != nil || kept == 0 {
					t.Fatalf("kept %d, %v", kept, err)
				}
			}
			got := decodeAll(t, b)
			if len(got) != 5 {
				t.Fatalf("%d records left, want 5", len(got))
			}
			for _, d := range got {
				if d.Offset%6 != 0 {
					t.Fatalf("offset %d survived", d.Offset)
				}
			}
		})
	}
}

func TestFilterRejectsBadBatch(t *testing.T) {
	b := BuildBatch(testSpec(CodecGzip), testRecords(3)...)
	b[len(b)-5] ^= 1
	out, _, kept, err := Filter([]byte("dst"), b, nil, func(*Record, int64, int64) bool { return true })
	if !errors.Is(err, ErrCorrupt) || kept != 0 || string(out) != "dst" {
		t.Fatalf("out %q kept %d err %v", out, kept, err)
	}
}

func TestOffsetAtTime(t *testing.T) {
	// Timestamps (ms after base): -3, 4, 11, 1<<40, 25, 32, ...; see testRecords.
	base := testSpec(CodecNone).BaseTimestamp
	tests := []struct {
		name   string
		attrs  int16
		ts     int64
		offset int64 // relative; -1 for not found
		recTs  int64 // relative to base
	}{
		{name: "before all", ts: base - 100, offset: 0, recTs: -3},
		{name: "exact first", ts: base - 3, offset: 0, recTs: -3},
		{name: "between", ts: base + 5, offset: 2, recTs: 11},
		{name: "exact middle", ts: base + 11, offset: 2, recTs: 11},
		{name: "only the outlier", ts: base + 1000, offset: 3, recTs: 1 << 40},
		{name: "after all", ts: base + 1<<41, offset: -1},
		{name: "log append time", attrs: AttrLogAppendTime, ts: base + 1<<41 - 1, offset: 0, recTs: 1 << 41},
		{name: "log append time, after", attrs: AttrLogAppendTime, ts: base + 1<<41 + 1, offset: -1},
	}
	for _, c := range allCodecs {
		for _, tt := range tests {
			t.Run(c.String()+"/"+tt.name, func(t *testing.T) {
				b := BuildBatch(testSpec(c), testRecords(10)...)
				if tt.attrs&AttrLogAppendTime != 0 {
					SetLogAppendTime(b, base+1<<41)
				}
				off, ts, found, _, err := OffsetAtTime(b, nil, tt.ts)
				if err != nil {
					t.Fatal(err)
				}
				wantOff := testSpec(c).BaseOffset + tt.offset
				if found != (tt.offset >= 0) || (found && (off != wantOff || ts != base+tt.recTs)) {
					t.Fatalf("got %d@%d found=%v, want %d@%d", off, ts, found, wantOff, base+tt.recTs)
				}
			})
		}
	}
}

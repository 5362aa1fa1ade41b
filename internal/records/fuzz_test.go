package records

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzValidate checks, for arbitrary bytes and for the same bytes with the
// CRC fixed up (so the fuzzer gets past the checksum): nothing panics;
// what Validate accepts ValidateStored accepts; what ValidateStored
// accepts uncompressed Decode accepts; what Decode accepts iterates
// exactly RecordCount records, survives SetBaseOffset, and filters into
// a batch that decodes to the kept records.
func FuzzValidate(f *testing.F) {
	for _, c := range allCodecs {
		f.Add(BuildBatch(testSpec(c), testRecords(3)...))
	}
	gapped := testRecords(2)
	gapped[1].OffsetDelta = 5
	f.Add(rawBatch(testSpec(CodecNone), encodeRecords(gapped), 2, 7))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		checkBatchInvariants(t, b)
		if len(b) >= HeaderSize {
			b = clone(b)
			SetCRC(b)
			checkBatchInvariants(t, b)
		}
	})
}

func checkBatchInvariants(t *testing.T, b []byte) {
	strict, stored := Validate(b), ValidateStored(b)
	for _, err := range []error{strict, stored} {
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v does not match ErrInvalid", err)
		}
	}
	if strict == nil && stored != nil {
		t.Fatalf("Validate accepted, ValidateStored: %v", stored)
	}
	it, _, err := Decode(b, nil)
	if err != nil {
		if stored == nil && Header(b).Codec() == CodecNone {
			t.Fatalf("ValidateStored accepted, Decode: %v", err)
		}
		return
	}
	n := 0
	for it.Next() {
		n++
	}
	if it.Err() != nil || n != int(Header(b).RecordCount()) {
		t.Fatalf("Decode accepted; iterated %d of %d: %v", n, Header(b).RecordCount(), it.Err())
	}
	checkRebase(t, b, strict == nil)
	checkFilterHalf(t, b)
}

func checkRebase(t *testing.T, b []byte, strict bool) {
	b = clone(b)
	SetBaseOffset(b, 1<<50)
	SetLeaderEpoch(b, 12)
	if err := ValidateStored(b); err != nil {
		t.Fatalf("SetBaseOffset broke the batch: %v", err)
	}
	if err := Validate(b); strict && err != nil {
		t.Fatalf("SetBaseOffset broke the batch: %v", err)
	}
}

func checkFilterHalf(t *testing.T, b []byte) {
	i := 0
	keepOdd := func(*Record, int64, int64) bool { i++; return i%2 == 1 }
	out, _, kept, err := Filter(nil, b, nil, keepOdd)
	if err != nil {
		t.Fatalf("Filter of a decodable batch: %v", err)
	}
	if err := ValidateStored(out); err != nil {
		t.Fatalf("filtered batch: %v", err)
	}
	all := decodeAll(t, b)
	var model []decoded
	for j := 0; j < len(all); j += 2 {
		model = append(model, all[j])
	}
	if kept != len(model) {
		t.Fatalf("kept %d, want %d", kept, len(model))
	}
	if err := equalDecoded(decodeAll(t, out), model); err != nil {
		t.Fatal(err)
	}
}

func FuzzDecompressGzip(f *testing.F)   { fuzzDecompress(f, CodecGzip) }
func FuzzDecompressSnappy(f *testing.F) { fuzzDecompress(f, CodecSnappy) }
func FuzzDecompressLZ4(f *testing.F)    { fuzzDecompress(f, CodecLZ4) }
func FuzzDecompressZstd(f *testing.F)   { fuzzDecompress(f, CodecZstd) }

// fuzzDecompress checks that decompressing arbitrary bytes never panics,
// fails only with ErrInvalid and leaves dst alone when it does, never
// returns more than the limit, and that what it returns round-trips.
func fuzzDecompress(f *testing.F, c Codec) {
	const limit = 1 << 20
	for _, in := range [][]byte{{}, []byte("hello, herald"), encodeRecords(testRecords(20)), make([]byte, 4*limit)} {
		comp, err := Compress(c, nil, in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(comp)
	}
	f.Add([]byte{0x00})
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := decompress(c, []byte("pre"), src, limit)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || string(out) != "pre" {
				t.Fatalf("err %v, dst %q", err, out[:min(len(out), 8)])
			}
			return
		}
		out = out[3:]
		if len(out) > limit {
			t.Fatalf("%d bytes out, limit %d", len(out), limit)
		}
		comp, err := Compress(c, nil, out)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decompress(c, nil, comp, limit)
		if err != nil || !bytes.Equal(back, out) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

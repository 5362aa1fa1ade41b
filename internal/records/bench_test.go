package records

import (
	"strconv"
	"testing"
)

func BenchmarkValidate(b *testing.B) {
	for _, n := range []int{16, 256, 1024} {
		batch := BuildBatch(testSpec(CodecNone), textRecords(n, 1024)...)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				if err := Validate(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchRaw is 256 records of 1 KiB loosely compressible text.
func benchRaw() []byte { return encodeRecords(textRecords(256, 1024)) }

func BenchmarkCompress(b *testing.B) {
	raw := benchRaw()
	for _, c := range allCodecs[1:] {
		b.Run(c.String(), func(b *testing.B) {
			dst := make([]byte, 0, len(raw))
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				var err error
				if dst, err = Compress(c, dst[:0], raw); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(raw))/float64(len(dst)), "ratio")
		})
	}
}

func BenchmarkDecompress(b *testing.B) {
	raw := benchRaw()
	for _, c := range allCodecs[1:] {
		comp, _ := Compress(c, nil, raw)
		b.Run(c.String(), func(b *testing.B) {
			dst := make([]byte, 0, len(raw)+1)
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				var err error
				if dst, err = Decompress(c, dst[:0], comp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFilter(b *testing.B) {
	for _, c := range allCodecs {
		batch := BuildBatch(testSpec(c), textRecords(256, 1024)...)
		b.Run(c.String(), func(b *testing.B) {
			var dst, scratch []byte
			keepEven := func(_ *Record, off, _ int64) bool { return off%2 == 0 }
			b.ReportAllocs()
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				var err error
				if dst, scratch, _, err = Filter(dst[:0], batch, scratch, keepEven); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

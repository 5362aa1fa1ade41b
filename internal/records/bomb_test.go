package records

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// bombs are small compressed record sections that expand to size bytes of
// zeros, each written the way a hostile producer would: streamed, so no
// frame declares its content size.
func bombs(t testing.TB, size int) map[Codec][]byte {
	zeros := make([]byte, 1<<20)
	stream := func(w interface {
		Write([]byte) (int, error)
		Close() error
	}) {
		for n := 0; n < size; n += len(zeros) {
			if _, err := w.Write(zeros); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	out := map[Codec][]byte{}
	var zb bytes.Buffer
	zw, err := zstd.NewWriter(&zb, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	stream(zw)
	out[CodecZstd] = zb.Bytes()
	var gb bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&gb, gzip.BestSpeed)
	stream(gw)
	out[CodecGzip] = gb.Bytes()
	var lb bytes.Buffer
	lw := lz4.NewWriter(&lb)
	stream(lw)
	out[CodecLZ4] = lb.Bytes()
	sn, err := Compress(CodecSnappy, nil, make([]byte, size))
	if err != nil {
		t.Fatal(err)
	}
	out[CodecSnappy] = sn
	return out
}

// TestDecompressionBombs: a batch whose records expand far beyond the cap
// fails with ErrTooLarge (CORRUPT_MESSAGE on produce) and decoding it
// allocates at most three times the cap (the output doubling as it grows,
// and the last step) plus the codec's own buffers (an LZ4 block or a zstd
// window of a few MiB), for every codec, however far the bomb expands.
func TestDecompressionBombs(t *testing.T) {
	const limit = 32 << 20
	defer SetMaxDecompressed(SetMaxDecompressed(limit))
	for c, comp := range bombs(t, 256<<20) {
		t.Run(c.String(), func(t *testing.T) {
			b := rawBatch(testSpec(c), comp, 1000, 999)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, _, err := Decode(b, nil)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode of a %d-byte bomb: %v, want ErrTooLarge", len(comp), err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3*limit+16<<20 {
				t.Errorf("decoding a %d-byte bomb allocated %d MiB; cap %d MiB", len(comp), alloc>>20, limit>>20)
			}
		})
	}
}

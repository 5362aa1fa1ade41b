package records

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/s2"
)

func compressInputs() map[string][]byte {
	rng := rand.New(rand.NewPCG(3, 4))
	random := make([]byte, 100<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	return map[string][]byte{
		"empty":  {},
		"one":    {'x'},
		"small":  []byte("hello, herald"),
		"text":   encodeRecords(textRecords(200, 1024)), // several xerial and lz4 blocks
		"random": random,
		"zeros":  make([]byte, 300<<10),
	}
}

func TestCompressRoundTrip(t *testing.T) {
	prefix := []byte("prefix")
	for _, c := range allCodecs {
		for name, in := range compressInputs() {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				comp, err := Compress(c, clone(prefix), in)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(comp, prefix) {
					t.Fatal("Compress did not append to dst")
				}
				out, err := Decompress(c, clone(prefix), comp[len(prefix):])
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out, append(clone(prefix), in...)) {
					t.Fatalf("round trip: got %d bytes, want %d", len(out)-len(prefix), len(in))
				}
			})
		}
	}
}

func TestSnappyFraming(t *testing.T) {
	in := encodeRecords(textRecords(100, 1024)) // > 3 xerial blocks
	comp, err := Compress(CodecSnappy, nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(comp, xerialHeader) {
		t.Fatalf("no xerial header: % x", comp[:16])
	}
	// Walk the blocks as a Java reader would: big-endian length, raw block.
	var out []byte
	for rest := comp[16:]; len(rest) > 0; {
		n := binary.BigEndian.Uint32(rest)
		block, err := s2.Decode(nil, rest[4:4+n])
		if err != nil {
			t.Fatal(err)
		}
		if len(block) > xerialBlockSize {
			t.Fatalf("block of %d bytes", len(block))
		}
		out = append(out, block...)
		rest = rest[4+n:]
	}
	if !bytes.Equal(out, in) {
		t.Fatal("xerial blocks do not concatenate to the input")
	}
}

func TestDecompressSnappyForms(t *testing.T) {
	in := encodeRecords(textRecords(50, 512))
	xerial, _ := Compress(CodecSnappy, nil, in)
	tests := []struct {
		name string
		src  []byte
		ok   bool
	}{
		{"raw block", s2.EncodeSnappy(nil, in), true},
		{"xerial", xerial, true},
		{"xerial header only", clone(xerialHeader), true},
		{"xerial truncated length", append(clone(xerialHeader), 0, 0), false},
		{"xerial length past end", append(clone(xerialHeader), 0, 0, 1, 0, 1, 2), false},
		{"xerial negative length", append(clone(xerialHeader), 0xff, 0xff, 0xff, 0xff), false},
		{"xerial truncated block", xerial[:len(xerial)-1], false},
		{"s2 extension block", s2.Encode(nil, bytes.Repeat([]byte("abcdefgh12345678"), 4096)), false},
		{"garbage", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Decompress(CodecSnappy, nil, tt.src)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("%v does not match ErrInvalid", err)
			}
			if tt.ok && tt.name != "xerial header only" && !bytes.Equal(out, in) {
				t.Fatal("wrong output")
			}
		})
	}
}

func TestDecompressGzipMultiMember(t *testing.T) {
	var buf bytes.Buffer
	for _, part := range []string{"hello, ", "herald"} {
		w := stdgzip.NewWriter(&buf)
		w.Write([]byte(part))
		w.Close()
	}
	out, err := Decompress(CodecGzip, nil, buf.Bytes())
	if err != nil || string(out) != "hello, herald" {
		t.Fatalf("got %q, %v", out, err)
	}
}

func TestDecompressLimit(t *testing.T) {
	bomb := make([]byte, 4<<20)
	const limit = 1 << 20
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			comp, err := Compress(c, nil, bomb)
			if err != nil {
				t.Fatal(err)
			}
			out, err := decompress(c, []byte("keep"), comp, limit)
			if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrTooLarge and ErrInvalid", err)
			}
			if string(out) != "keep" {
				t.Fatalf("dst changed to %d bytes", len(out))
			}
			// Exactly at the limit is fine.
			if _, err := decompress(c, nil, comp, len(bomb)); err != nil {
				t.Fatalf("at the limit: %v", err)
			}
		})
	}
}

func TestDecompressGarbage(t *testing.T) {
	for _, c := range allCodecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			comp, _ := Compress(c, nil, []byte("some records, some records, some records"))
			for _, src := range [][]byte{{}, {1, 2, 3}, comp[:len(comp)/2]} {
				if _, err := Decompress(c, nil, src); !errors.Is(err, ErrInvalid) {
					t.Errorf("% x: err = %v, want ErrInvalid", src, err)
				}
			}
			// Snappy has no checksum: a flipped literal byte decodes.
			flipped := with(comp, func(b []byte) { b[len(b)-2] ^= 0xff })
			if _, err := Decompress(c, nil, flipped); c != CodecSnappy && !errors.Is(err, ErrInvalid) {
				t.Errorf("flipped byte: err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestUnknownCodec(t *testing.T) {
	for _, c := range []Codec{5, 6, 7, -1} {
		if _, err := Compress(c, nil, []byte("x")); !errors.Is(err, ErrInvalid) {
			t.Errorf("Compress(%v): %v", c, err)
		}
		if _, err := Decompress(c, nil, []byte("x")); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decompress(%v): %v", c, err)
		}
	}
}

func TestCodecAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	in := encodeRecords(textRecords(64, 1024))
	for _, c := range allCodecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			comp, _ := Compress(c, nil, in)
			dst := make([]byte, 0, 2*len(in))
			cdst := make([]byte, 0, 2*len(in))
			allocs := testing.AllocsPerRun(50, func() {
				cdst, _ = Compress(c, cdst[:0], in)
				dst, _ = Decompress(c, dst[:0], comp)
			})
			if allocs > 4 {
				t.Errorf("%v allocs per Compress+Decompress, want at most 4", allocs)
			}
		})
	}
}

func TestMaxDecompressedBoundsDecode(t *testing.T) {
	b := BuildBatch(testSpec(CodecZstd), textRecords(64, 1024)...)
	defer SetMaxDecompressed(SetMaxDecompressed(32 << 10))
	if _, _, err := Decode(b, nil); !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("Decode: %v, want ErrTooLarge", err)
	}
	SetMaxDecompressed(1 << 20)
	if _, _, err := Decode(b, nil); err != nil {
		t.Fatal(err)
	}
}

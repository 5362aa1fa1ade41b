package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// DefaultMaxDecompressed is the default bound on the decompressed size of
// one batch's records: 64 times Kafka's default max.message.bytes.
const DefaultMaxDecompressed = 64 << 20

// maxDecompressed bounds the decompressed size of one batch's records, so
// that a small compressed batch (a "zip bomb") gets an error instead of
// exhausting memory; see SetMaxDecompressed.
var maxDecompressed atomic.Int64

func init() { maxDecompressed.Store(DefaultMaxDecompressed) }

// SetMaxDecompressed sets the bound on the decompressed size of one
// batch's records that Decode, Decompress and every validation that
// decompresses apply; n <= 0 restores DefaultMaxDecompressed. Output is
// produced as a stream and the bound applies as it grows, so a batch over
// it fails after allocating at most about three times n, however far it
// would expand. It returns the previous bound.
func SetMaxDecompressed(n int) int {
	if n <= 0 {
		n = DefaultMaxDecompressed
	}
	return int(maxDecompressed.Swap(int64(n)))
}

// MaxDecompressed returns the bound SetMaxDecompressed set.
func MaxDecompressed() int { return int(maxDecompressed.Load()) }

// ErrTooLarge marks records that decompress to more than MaxDecompressed()
// bytes. Errors that wrap it also wrap ErrInvalid.
var ErrTooLarge = errors.New("decompressed records too large")

// codecError is a failure to decompress or compress. It wraps the codec's
// error and matches ErrInvalid: a batch whose records do not decompress is
// not a well-formed batch.
type codecError struct {
	codec Codec
	err   error
}

func (e *codecError) Error() string { return fmt.Sprintf("record batch: %v: %v", e.codec, e.err) }
func (e *codecError) Unwrap() error { return e.err }

// Is matches ErrInvalid.
func (e *codecError) Is(target error) bool { return target == ErrInvalid }

// Decompress appends the decompression of src, compressed with c, to dst.
// Snappy input may be a raw block or xerial-framed. It fails with an error
// wrapping ErrInvalid if src is malformed or c is unknown, and also
// ErrTooLarge if the output would exceed MaxDecompressed(). On error it
// returns dst with its original length. dst and src must not overlap.
//
// Decompress is safe for concurrent use; codec state is pooled.
func Decompress(c Codec, dst, src []byte) ([]byte, error) {
	return decompress(c, dst, src, MaxDecompressed())
}

// decompress is Decompress with an explicit bound on the output size.
func decompress(c Codec, dst, src []byte, limit int) ([]byte, error) {
	var out []byte
	var err error
	if c != CodecNone && len(src) == 0 {
		// Every codec writes a header even for no data; some of the
		// libraries would read nothing as an empty stream.
		return dst, &codecError{codec: c, err: errors.New("no compressed data")}
	}
	switch c {
	case CodecNone:
		out, err = append(dst, src...), nil
	case CodecGzip:
		out, err = gunzip(dst, src, limit)
	case CodecSnappy:
		out, err = unsnappy(dst, src, limit)
	case CodecLZ4:
		out, err = unlz4(dst, src, limit)
	case CodecZstd:
		out, err = unzstd(dst, src, limit)
	default:
		return dst, invalid("unknown compression codec %d", c)
	}
	if err == nil && len(out)-len(dst) > limit {
		err = ErrTooLarge
	}
	if err != nil {
		return dst, &codecError{codec: c, err: err}
	}
	return out, nil
}

// Compress appends src compressed with c to dst, in the form Kafka's Java
// client writes: a gzip stream, xerial-framed snappy, an LZ4 frame with
// 64 KiB independent blocks, or a zstd frame. CodecNone appends src as is.
// An unknown codec gives an error wrapping ErrInvalid. dst and src must not
// overlap.
//
// Compress is safe for concurrent use; codec state is pooled.
func Compress(c Codec, dst, src []byte) ([]byte, error) {
	var err error
	switch c {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		dst, err = gzipAppend(dst, src)
	case CodecSnappy:
		return xerialAppend(dst, src), nil
	case CodecLZ4:
		dst, err = lz4Append(dst, src)
	case CodecZstd:
		dst = zstdAppend(dst, src)
	default:
		return dst, invalid("unknown compression codec %d", c)
	}
	if err != nil {
		return dst, &codecError{codec: c, err: err}
	}
	return dst, nil
}

// readAppend reads r to EOF, appending to dst, and fails with ErrTooLarge
// once more than limit bytes have come out. It grows dst by at least hint
// bytes first, so a good hint means one allocation; otherwise the output
// doubles as it grows, never past limit, so a stream costs at most about
// three times limit in allocations (twice limit live, during the last
// copy) however much it would expand to. At limit it probes for one more
// byte with a byte of its own.
func readAppend(dst []byte, r io.Reader, limit, hint int) ([]byte, error) {
	start := len(dst)
	if hint > 0 {
		dst = growTo(dst, len(dst)+min(hint+1, limit))
	}
	for {
		n := len(dst) - start
		if n >= limit {
			var one [1]byte
			m, err := r.Read(one[:])
			switch {
			case m > 0:
				return dst[:start], ErrTooLarge
			case errors.Is(err, io.EOF):
				return dst, nil
			case err != nil:
				return dst[:start], err
			}
			continue
		}
		if len(dst) == cap(dst) {
			dst = growTo(dst, len(dst)+min(max(n, 4096), limit-n))
		}
		buf := dst[len(dst):cap(dst)]
		buf = buf[:min(len(buf), limit-n)]
		m, err := r.Read(buf)
		dst = dst[:len(dst)+m]
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return dst[:start], err
		}
	}
}

// growTo returns dst with capacity at least c, reallocated to exactly c
// when it is short. (append's growth rounds large slices up by steps of a
// quarter, which would overshoot the bound readAppend keeps.)
func growTo(dst []byte, c int) []byte {
	if cap(dst) >= c {
		return dst
	}
	nb := make([]byte, len(dst), c)
	copy(nb, dst)
	return nb
}

// sliceWriter is an io.Writer that appends to b.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// gzip

type gzipReader struct {
	src bytes.Reader
	zr  gzip.Reader
}

type gzipWriter struct {
	dst sliceWriter
	zw  *gzip.Writer
}

var (
	gzipReaders = sync.Pool{New: func() any { return new(gzipReader) }}
	gzipWriters = sync.Pool{New: func() any {
		w := new(gzipWriter)
		w.zw = gzip.NewWriter(&w.dst)
		return w
	}}
)

func gunzip(dst, src []byte, limit int) ([]byte, error) {
	r := gzipReaders.Get().(*gzipReader)
	defer gzipReaders.Put(r)
	defer r.src.Reset(nil) // do not keep src alive in the pool
	r.src.Reset(src)
	if err := r.zr.Reset(&r.src); err != nil {
		return dst, err
	}
	return readAppend(dst, &r.zr, limit, gzipSizeHint(src))
}

// gzipSizeHint is the size the gzip trailer records for its (last) member,
// which is the whole output for the single member producers write. The
// trailer is untrusted, so the hint is capped at deflate's best ratio
// (about 1032:1): a lying trailer cannot make us allocate more than the
// input could really expand to.
func gzipSizeHint(src []byte) int {
	if len(src) < 18 {
		return 0
	}
	return min(int(binary.LittleEndian.Uint32(src[len(src)-4:])), 1032*len(src))
}

func gzipAppend(dst, src []byte) ([]byte, error) {
	w := gzipWriters.Get().(*gzipWriter)
	defer gzipWriters.Put(w)
	w.dst.b = dst
	w.zw.Reset(&w.dst)
	_, err := w.zw.Write(src)
	if cerr := w.zw.Close(); err == nil {
		err = cerr
	}
	out := w.dst.b
	w.dst.b = nil
	return out, err
}

// snappy

// Xerial-framed snappy, as the Java client writes it (big-endian):
//
//	offset  size  field
//	     0     8  magic               0x82 "SNAPPY" 0x00
//	     8     4  version             1
//	    12     4  compatible version  1; the Java reader rejects lower
//	    16     …  blocks, each: int32 length, then a raw snappy block of
//	              at most 32 KiB of input
//
// Part of the wire format; do not change.
var (
	xerialMagic  = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}
	xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
)

// xerialBlockSize is the block size the Java client's SnappyOutputStream
// writes.
const xerialBlockSize = 32 << 10

func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	if len(src) >= len(xerialHeader) && bytes.HasPrefix(src, xerialMagic) {
		return unxerial(dst, src[len(xerialHeader):], limit)
	}
	return unsnappyBlock(dst, src, limit)
}

// unxerial decodes the blocks after the xerial header: each a big-endian
// int32 length and a raw snappy block. It adds up the lengths the blocks
// declare first, so output over limit fails before anything is allocated
// or decoded, and the output is allocated once.
func unxerial(dst, src []byte, limit int) ([]byte, error) {
	total, err := xerialDecodedLen(src)
	if err != nil {
		return dst, err
	}
	if total > limit {
		return dst, ErrTooLarge
	}
	start := len(dst)
	dst = slices.Grow(dst, total)
	for len(src) > 0 {
		n := int(binary.BigEndian.Uint32(src))
		src = src[4:]
		dst, err = unsnappyBlock(dst, src[:n], limit-(len(dst)-start))
		if err != nil {
			return dst[:start], err
		}
		src = src[n:]
	}
	return dst, nil
}

// xerialDecodedLen checks the framing of xerial blocks and adds up the
// lengths they declare, stopping once past any int's worth.
func xerialDecodedLen(src []byte) (int, error) {
	total := 0
	for len(src) > 0 {
		if len(src) < 4 {
			return 0, errors.New("truncated xerial block length")
		}
		n := int32(binary.BigEndian.Uint32(src))
		src = src[4:]
		if n < 0 || int(n) > len(src) {
			return 0, fmt.Errorf("xerial block length %d, %d bytes left", n, len(src))
		}
		dn, err := snappy.DecodedLen(src[:n])
		if err != nil {
			return 0, err
		}
		total += dn
		if int64(total) > 1<<40 {
			return total, nil
		}
		src = src[n:]
	}
	return total, nil
}

// unsnappyBlock appends one raw snappy block. It checks the length the
// block declares before allocating, and decodes strictly: s2's extensions
// are not snappy, and the Java client would reject them.
func unsnappyBlock(dst, src []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return dst, err
	}
	if n > limit {
		return dst, ErrTooLarge
	}
	dst = slices.Grow(dst, n)
	if _, err := snappy.DecodeStrict(dst[len(dst):len(dst)+n], src); err != nil {
		return dst, err
	}
	return dst[:len(dst)+n], nil
}

// xerialAppend frames src the way the Java client does. Every Kafka client
// reads this framing (the Java client writes it); not every client reads
// a bare block.
func xerialAppend(dst, src []byte) []byte {
	dst = append(dst, xerialHeader...)
	for len(src) > 0 {
		n := min(len(src), xerialBlockSize)
		dst = slices.Grow(dst, 4+s2.MaxEncodedLen(n))
		at := len(dst)
		// With room for the worst case, EncodeSnappy encodes in place.
		block := s2.EncodeSnappy(dst[at+4:cap(dst)], src[:n])
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(block)))
		dst = dst[:at+4+len(block)]
		src = src[n:]
	}
	return dst
}

// lz4

type lz4Reader struct {
	src bytes.Reader
	zr  *lz4.Reader
}

type lz4Writer struct {
	dst sliceWriter
	zw  *lz4.Writer
}

var (
	lz4Readers = sync.Pool{New: func() any { return &lz4Reader{zr: lz4.NewReader(nil)} }}
	lz4Writers = sync.Pool{New: func() any { return newLZ4Writer() }}
)

// newLZ4Writer writes 64 KiB blocks, as the Java client does, rather than
// the library's default 4 MiB: readers allocate a block-sized buffer.
func newLZ4Writer() *lz4Writer {
	w := &lz4Writer{zw: lz4.NewWriter(nil)}
	if err := w.zw.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
		panic(err) // a valid constant option; cannot fail
	}
	return w
}

func unlz4(dst, src []byte, limit int) ([]byte, error) {
	r := lz4Readers.Get().(*lz4Reader)
	defer lz4Readers.Put(r)
	defer r.src.Reset(nil) // do not keep src alive in the pool
	defer r.zr.Reset(nil)  // returns the block buffer to lz4's pool
	r.src.Reset(src)
	r.zr.Reset(&r.src)
	return readAppend(dst, r.zr, limit, 4*len(src))
}

func lz4Append(dst, src []byte) ([]byte, error) {
	w := lz4Writers.Get().(*lz4Writer)
	defer lz4Writers.Put(w)
	w.dst.b = dst
	w.zw.Reset(&w.dst)
	_, err := w.zw.Write(src)
	if cerr := w.zw.Close(); err == nil {
		err = cerr
	}
	out := w.dst.b
	w.dst.b = nil
	w.zw.Reset(nil)
	return out, err
}

// zstd

// zstdDecoder is a pooled streaming decoder and the output bound it was
// set up with.
type zstdDecoder struct {
	src   bytes.Reader
	d     *zstd.Decoder
	limit int
}

var (
	zstdDecoders = sync.Pool{New: func() any { return new(zstdDecoder) }}
	zstdEncoders = sync.Pool{New: func() any { return newZstdEncoder() }}
)

// newZstdEncoder makes an encoder for EncodeAll only, which starts no
// goroutines, so a pooled encoder the GC drops leaks nothing. Zero frames
// makes empty input a valid frame rather than no bytes.
func newZstdEncoder() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
	if err != nil {
		panic(err) // constant, valid options; cannot fail
	}
	return e
}

// setLimit bounds the decoder's window by limit: a frame asking for a
// larger one fails before its window is allocated. With concurrency 1 the
// stream decodes synchronously, in the caller's goroutine.
func (zd *zstdDecoder) setLimit(limit int) error {
	limit = max(limit, zstd.MinWindowSize)
	if zd.d != nil && zd.limit == limit {
		return nil
	}
	var err error
	opt := zstd.WithDecoderMaxMemory(uint64(limit))
	if zd.d == nil {
		zd.d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), opt)
	} else {
		err = zd.d.ResetWithOptions(nil, opt)
	}
	zd.limit = limit
	return err
}

// unzstd decodes as a stream into dst, failing as soon as the output
// passes limit. (DecodeAll checks the size of a frame without a declared
// content size, as the Java client writes them, only after decoding the
// whole frame: a 100 KiB frame would cost gigabytes first.) A declared
// content size, when there is one, sizes the output up front.
func unzstd(dst, src []byte, limit int) ([]byte, error) {
	zd := zstdDecoders.Get().(*zstdDecoder)
	defer zstdDecoders.Put(zd)
	defer zd.src.Reset(nil) // do not keep src alive in the pool
	if err := zd.setLimit(limit); err != nil {
		zd.d = nil
		return dst, err
	}
	hint := 4 * len(src)
	var fh zstd.Header
	if fh.Decode(src) == nil && fh.HasFCS {
		if fh.FrameContentSize > uint64(limit) {
			return dst, ErrTooLarge
		}
		hint = int(fh.FrameContentSize)
	}
	zd.src.Reset(src)
	if err := zd.d.Reset(&zd.src); err != nil {
		return dst, err
	}
	out, err := readAppend(dst, zd.d, limit, hint)
	zd.d.Reset(nil) // drop the reference to src
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return dst, fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return out, err
}

func zstdAppend(dst, src []byte) []byte {
	e := zstdEncoders.Get().(*zstd.Encoder)
	defer zstdEncoders.Put(e)
	return e.EncodeAll(src, dst)
}

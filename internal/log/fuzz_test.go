package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/vfs"
)

// Fuzz tests of recovery. `go test` runs the seeds below (and any found
// inputs under testdata/fuzz); `make fuzz` or
//
//	go test ./internal/log -run '^$' -fuzz FuzzRecover -fuzztime 1m
//
// searches for more.

// fuzzOptions: fsync is irrelevant to these checks, and fuzzing wants
// thousands of opens a second.
func fuzzOptions() Options {
	return Options{FS: noSyncFS{vfs.Default}, Logger: quietLogger()}
}

// fuzzBatches builds n batches with contiguous offsets from base, with
// record timestamps ts0+10*i, +1, +2.
func fuzzBatches(base int64, n int, codec records.Codec) [][]byte {
	var out [][]byte
	for i := range n {
		b := testBatch(1+i%3, 20+i*7, 1000+int64(i)*10, codec)
		records.SetBaseOffset(b, base)
		base = records.Header(b).LastOffset() + 1
		out = append(out, b)
	}
	return out
}

// validPrefix returns the longest prefix of data made of whole batches
// that pass ValidateStored, with contiguous offsets from 0, and the offset
// after the last of them: what recovery must keep of an active segment.
func validPrefix(data []byte) (batches [][]byte, next int64) {
	for pos := 0; pos < len(data); {
		rest := data[pos:]
		n, ok := records.PeekSize(rest)
		if !ok || n > len(rest) || records.ValidateStored(rest[:n]) != nil || records.Header(rest).BaseOffset() != next {
			break
		}
		batches = append(batches, rest[:n])
		next = records.Header(rest).LastOffset() + 1
		pos += n
	}
	return batches, next
}

func FuzzRecover(f *testing.F) {
	join := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	flip := func(b []byte, bit int) []byte {
		b = bytes.Clone(b)
		b[bit/8%len(b)] ^= 1 << (bit % 8)
		return b
	}
	f.Add([]byte(nil))
	f.Add([]byte{0})
	f.Add(make([]byte, records.HeaderSize))
	for codec := records.CodecNone; codec <= records.CodecZstd; codec++ {
		bs := fuzzBatches(0, 4, codec)
		all := join(bs...)
		f.Add(all)
		f.Add(all[:len(all)-1])                             // last batch torn
		f.Add(all[:len(all)-len(bs[3])+records.HeaderSize]) // only a header of the last
		f.Add(all[:len(all)-len(bs[3])+5])                  // a sliver of it
		f.Add(join(bs[0], bs[1], flip(bs[2], 8*30)))        // CRC-covered bit flipped
		f.Add(join(bs[0], flip(bs[1], 8*8+7), bs[2]))       // batch length flipped
		f.Add(join(bs[0], flip(bs[1], 8*16+1), bs[2]))      // magic flipped
		f.Add(join(bs[0], bs[1], []byte("garbage after the batches")))
		f.Add(join(bs[0], bs[1], make([]byte, 4096)))                                      // zero-filled tail
		f.Add(join(bs[0], bs[0]))                                                          // the same offsets twice
		f.Add(join(bs[1], bs[0]))                                                          // offsets going back
		f.Add(join(fuzzBatches(10, 2, codec)...))                                          // not starting at the base
		f.Add(join(bs[0], fuzzBatches(1<<40, 1, codec)[0], bs[2]))                         // an offset jump
		f.Add(join(append([][]byte{bs[0]}, fuzzBatches(math.MaxInt64-1, 2, codec)...)...)) // last offset past MaxInt64
		gap := records.Header(bs[0]).LastOffset() + 2
		f.Add(join(append([][]byte{bs[0]}, fuzzBatches(gap, 2, codec)...)...)) // a gap of one offset
		f.Add(join(bs[0], flip(bs[1], 8*7), bs[2]))                            // base offset (not under the CRC) flipped
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := shmTempDir(t)
		path := segmentName(dir, 0, logSuffix)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := testConfig()
		rec := newLogRecorder()
		opts := fuzzOptions()
		opts.Logger = slog.New(rec)
		l, err := Open(dir, cfg, opts)
		if err != nil {
			t.Fatalf("open: %v (a bad tail must be cut, not fail the open)", err)
		}
		defer l.Close()
		want, next := validPrefix(data)
		kept := 0
		for _, b := range want {
			kept += len(b)
		}
		disk, err := os.ReadFile(path)
		if err != nil && (!errors.Is(err, fs.ErrNotExist) || kept > 0) {
			t.Fatal(err)
		}
		if !bytes.Equal(disk, data[:kept]) {
			t.Fatalf("file after recovery: %d bytes, want the %d-byte valid prefix of %d", len(disk), kept, len(data))
		}
		checkTailCut(t, rec, dir, data, kept)
		if got, min := l.LogEndOffset(), toldNext(data, kept, next); got < min {
			t.Fatalf("log end offset %d, but the damaged tail tells of offsets up to %d", got, min-1)
		}
		next = l.LogEndOffset()
		got := readAll(t, l, l.LogStartOffset())
		if len(got) != len(want) {
			t.Fatalf("read %d batches, want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("batch %d read back differs", i)
			}
		}
		b := testBatch(2, 10, 5000, records.CodecNone)
		res, err := l.Append(b)
		if err != nil || res.BaseOffset != next {
			t.Fatalf("append after recovery: offset %d, %v; want %d", res.BaseOffset, err, next)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2, err := Open(dir, cfg, opts)
		if err != nil {
			t.Fatalf("second open: %v", err)
		}
		defer l2.Close()
		if got := l2.LogEndOffset(); got != res.LastOffset+1 {
			t.Fatalf("second open: log end offset %d, want %d", got, res.LastOffset+1)
		}
		if cuts := append(rec.find("torn tail"), rec.find("damaged tail")...); len(cuts) > 1 {
			t.Fatalf("second open cut again: %v", cuts[1].attrs)
		}
		got = readAll(t, l2, l2.LogStartOffset())
		if len(got) != len(want)+1 || !bytes.Equal(got[len(got)-1], b) {
			t.Fatalf("second open: %d batches, want %d ending with the appended one", len(got), len(want)+1)
		}
	})
}

// checkTailCut checks that recovery reported the cut of data[kept:] once,
// and that a tail that may have held acknowledged records was kept aside
// byte for byte.
func checkTailCut(t *testing.T, rec *logRecorder, dir string, data []byte, kept int) {
	t.Helper()
	torn, damaged := rec.find("torn tail"), rec.find("damaged tail")
	cuts := append(torn, damaged...)
	if (len(cuts) == 1) != (kept < len(data)) || len(cuts) > 1 {
		t.Fatalf("kept %d of %d bytes, and recovery reported %d cuts", kept, len(data), len(cuts))
	}
	if len(cuts) == 1 && cuts[0].attrs["bytes"].Int64() != int64(len(data)-kept) {
		t.Fatalf("recovery reported %v bytes cut, want %d", cuts[0].attrs["bytes"], len(data)-kept)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "*"+damagedSuffix))
	if len(damaged) == 0 {
		if len(aside) > 0 {
			t.Fatalf("a torn tail was kept aside in %v", aside)
		}
		return
	}
	if len(aside) != 1 || damaged[0].attrs["kept"].String() != aside[0] {
		t.Fatalf("damaged tail reported kept in %v; files %v", damaged[0].attrs["kept"], aside)
	}
	if b, err := os.ReadFile(aside[0]); err != nil || !bytes.Equal(b, data[kept:]) {
		t.Fatalf("kept aside %d bytes (%v), want the %d cut", len(b), err, len(data)-kept)
	}
}

// toldNext is the lowest log end offset recovery may leave after cutting
// data[kept:], next being the offset after the kept batches: past the
// damaged batch when its header is believable and it is whole (not cut
// short, nor ended by 8 or more zeros as a power loss leaves it), and past
// every checksummed batch after it.
func toldNext(data []byte, kept int, next int64) int64 {
	min := next
	zeros := len(data) - len(bytes.TrimRight(data, "\x00"))
	if rest := data[kept:]; len(rest) >= records.HeaderSize && records.ValidateHeader(rest) == nil {
		h := records.Header(rest)
		end := kept + h.Size()
		torn := end > len(data) || (len(data)-zeros < end && zeros >= 8)
		if !torn && h.BaseOffset() == next && h.LastOffsetDelta() >= 0 && h.RecordCount() == h.LastOffsetDelta()+1 {
			min = h.LastOffset() + 1
		}
	}
	for p := kept + 1; p+records.HeaderSize <= len(data); p++ {
		n, ok := records.PeekSize(data[p:])
		if !ok || p+n > len(data) || records.ValidateStored(data[p:p+n]) != nil || records.Header(data[p:]).BaseOffset() < next {
			continue
		}
		min = max(min, records.Header(data[p:]).LastOffset()+1)
	}
	return min
}

// indexFixture is a log of two segments: a closed one, whose index files
// the fuzzer replaces, and the active one.
type indexFixture struct {
	closed, active   []byte // .log contents
	index, timeIndex []byte // the closed segment's real index entries, without the CRC
	activeBase       int64
	batches          [][]byte // every batch, in order
	ts               [][]int64
}

func newIndexFixture(t testing.TB) *indexFixture {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	cfg.IndexIntervalBytes = 200
	l, err := Open(dir, cfg, fuzzOptions())
	if err != nil {
		t.Fatal(err)
	}
	fx := &indexFixture{}
	for i := 0; l.Segments() < 2 || i%3 != 0; i++ {
		// Timestamps go up and down, so the time index has gaps.
		ts := 1000 + int64(i)*10
		if i%4 == 3 {
			ts -= 25
		}
		b := testBatch(1+i%3, 30+i%50, ts, records.Codec(i%5))
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
		fx.batches = append(fx.batches, b)
		var tss []int64
		it, _, err := records.Decode(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		for it.Next() {
			tss = append(tss, ts+it.Record().TimestampDelta)
		}
		fx.ts = append(fx.ts, tss)
	}
	l.mu.RLock()
	fx.activeBase = l.mu.segments[1].base
	l.mu.RUnlock()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	read := func(base int64, suffix string) []byte {
		b, err := os.ReadFile(segmentName(dir, base, suffix))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	fx.closed, fx.index, fx.timeIndex = read(0, logSuffix), read(0, indexSuffix), read(0, timeIndexSuffix)
	fx.active = read(fx.activeBase, logSuffix)
	// Keep the entries; the fuzz function adds the CRC back when asked.
	fx.index, fx.timeIndex = fx.index[:len(fx.index)-crcSize], fx.timeIndex[:len(fx.timeIndex)-crcSize]
	if len(fx.index) < 3*offsetEntrySize || len(fx.timeIndex) < 2*timeEntrySize {
		t.Fatalf("fixture indexes too small: %d and %d bytes", len(fx.index), len(fx.timeIndex))
	}
	return fx
}

// offsetForTime is the model of OffsetForTime.
func (fx *indexFixture) offsetForTime(ts int64) (int64, int64, bool) {
	for i, b := range fx.batches {
		base := records.Header(b).BaseOffset()
		for j, t := range fx.ts[i] {
			if t >= ts {
				return base + int64(j), t, true
			}
		}
	}
	return 0, 0, false
}

func FuzzIndexes(f *testing.F) {
	fx := newIndexFixture(f)
	put := func(b []byte, at int, v uint32) []byte {
		b = bytes.Clone(b)
		binary.BigEndian.PutUint32(b[at:], v)
		return b
	}
	idx, tix := fx.index, fx.timeIndex
	n := len(idx) / offsetEntrySize
	// With fixCRC the fuzz function appends the right CRC, so that what is
	// tested is what loadIndexes checks beyond it; without, the bytes are
	// the whole file.
	for _, fixCRC := range []bool{true, false} {
		f.Add(idx, tix, fixCRC)
		f.Add([]byte(nil), []byte(nil), fixCRC)
		f.Add(idx[:len(idx)-offsetEntrySize], tix[:len(tix)-timeEntrySize], fixCRC) // short by an entry
		f.Add(idx[:len(idx)-3], tix, fixCRC)                                        // torn
		f.Add(make([]byte, len(idx)), make([]byte, len(tix)), fixCRC)               // zero-filled
		f.Add(idx[:offsetEntrySize], tix[:timeEntrySize], fixCRC)
		f.Add(put(idx, (n-1)*offsetEntrySize+4, 1), tix, fixCRC) // last entry: wrong position
		f.Add(put(idx, (n-1)*offsetEntrySize, 1), tix, fixCRC)   // last entry: wrong offset
		f.Add(idx, put(tix, 4, 0xffffffff), fixCRC)              // a huge timestamp
		f.Add(bytes.Repeat([]byte{0xff}, 64), bytes.Repeat([]byte{0xff}, 64), fixCRC)
	}
	f.Add(appendCRC(bytes.Clone(idx)), appendCRC(bytes.Clone(tix)), false) // the real files
	// Entries that pass every structural check but point at the wrong
	// place: only a bug could write them, under a good CRC.
	at := func(b []byte, i int) uint32 { return binary.BigEndian.Uint32(b[i:]) }
	f.Add(put(idx, offsetEntrySize+4, at(idx, offsetEntrySize+4)+1), tix, true) // middle entry a byte off
	f.Add(put(idx, offsetEntrySize, at(idx, offsetEntrySize)+1), tix, true)     // middle entry names a later offset
	f.Add(put(idx, 2*offsetEntrySize, at(idx, 2*offsetEntrySize)-2), tix, true) // middle entry names an earlier offset
	f.Add(idx, put(tix, timeEntrySize+12, at(tix, timeEntrySize+12)+1), true)   // time entry a byte off
	f.Add(idx, put(tix, timeEntrySize+8, at(tix, timeEntrySize+8)+1), true)     // time entry names the wrong offset

	maxTs, maxTsOff := int64(-1), int64(-1)
	for i, b := range fx.batches {
		for j, t := range fx.ts[i] {
			if t > maxTs {
				maxTs, maxTsOff = t, records.Header(b).BaseOffset()+int64(j)
			}
		}
	}
	f.Fuzz(func(t *testing.T, index, timeIndex []byte, fixCRC bool) {
		if fixCRC {
			index, timeIndex = appendCRC(bytes.Clone(index)), appendCRC(bytes.Clone(timeIndex))
		}
		dir := shmTempDir(t)
		for _, file := range []struct {
			base   int64
			suffix string
			data   []byte
		}{
			{0, logSuffix, fx.closed},
			{0, indexSuffix, index},
			{0, timeIndexSuffix, timeIndex},
			{fx.activeBase, logSuffix, fx.active},
		} {
			if err := os.WriteFile(segmentName(dir, file.base, file.suffix), file.data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cfg := testConfig()
		cfg.IndexIntervalBytes = 200
		l, err := Open(dir, cfg, fuzzOptions())
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer l.Close()
		end := records.Header(fx.batches[len(fx.batches)-1]).LastOffset() + 1
		if l.LogEndOffset() != end || l.Segments() != 2 {
			t.Fatalf("log end %d in %d segments, want %d in 2", l.LogEndOffset(), l.Segments(), end)
		}
		if fixCRC {
			// The index files pass their CRC, so the log trusts every
			// entry that passes its structural checks, and does not
			// check entries against the batches they point at when it
			// reads. Such files only come from a bug in writing them;
			// here the checks are: no panic, no invalid bytes returned.
			var dst []byte
			for off := int64(0); off < end; off++ {
				if dst, err = l.Read(dst[:0], off, 1<<20, true); err == nil {
					for b := dst; len(b) > 0; {
						n, ok := records.PeekSize(b)
						if !ok || n > len(b) || records.ValidateStored(b[:n]) != nil {
							t.Fatalf("read at %d returned bytes that are not whole valid batches", off)
						}
						b = b[n:]
					}
				}
			}
			for ts := int64(990); ts <= 1000+int64(len(fx.batches))*10+5; ts++ {
				l.OffsetForTime(ts)
			}
			l.MaxTimestamp()
			return
		}
		got := readAll(t, l, 0)
		if len(got) != len(fx.batches) {
			t.Fatalf("read %d batches, want %d", len(got), len(fx.batches))
		}
		for i := range got {
			if !bytes.Equal(got[i], fx.batches[i]) {
				t.Fatalf("batch %d differs", i)
			}
		}
		// Every offset reads back the batch that holds it.
		var dst []byte
		for i, b := range fx.batches {
			h := records.Header(b)
			for off := h.BaseOffset(); off <= h.LastOffset(); off++ {
				dst, err = l.Read(dst[:0], off, 1, true)
				if err != nil {
					t.Fatalf("read at %d: %v", off, err)
				}
				if !bytes.Equal(dst, b) {
					t.Fatalf("read at %d: got %d bytes, want batch %d", off, len(dst), i)
				}
			}
		}
		for ts := int64(990); ts <= 1000+int64(len(fx.batches))*10+5; ts++ {
			off, rts, found, err := l.OffsetForTime(ts)
			woff, wts, wfound := fx.offsetForTime(ts)
			if err != nil || found != wfound || off != woff || rts != wts {
				t.Fatalf("OffsetForTime(%d) = %d, %d, %v, %v; want %d, %d, %v", ts, off, rts, found, err, woff, wts, wfound)
			}
		}
		if off, ts, found, err := l.MaxTimestamp(); err != nil || !found || off != maxTsOff || ts != maxTs {
			t.Fatalf("MaxTimestamp = %d, %d, %v, %v; want %d, %d", off, ts, found, err, maxTsOff, maxTs)
		}
	})
}

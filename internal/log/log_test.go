package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/records"
)

func TestAppendAssignsOffsetsAndReadsBack(t *testing.T) {
	for _, codec := range []records.Codec{records.CodecNone, records.CodecGzip, records.CodecSnappy, records.CodecLZ4, records.CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			l := openTest(t, t.TempDir(), testConfig(), Options{})
			var want [][]byte
			next := int64(0)
			for i := 0; i < 50; i++ {
				b := testBatch(1+i%7, 100, int64(1000+i), codec)
				res, err := l.Append(b)
				if err != nil {
					t.Fatal(err)
				}
				if res.BaseOffset != next || res.LastOffset != next+int64(i%7) {
					t.Fatalf("batch %d: got [%d,%d], want base %d", i, res.BaseOffset, res.LastOffset, next)
				}
				next = res.LastOffset + 1
				want = append(want, bytes.Clone(b))
			}
			if l.HighWatermark() != next || l.LogEndOffset() != next {
				t.Fatalf("hw %d leo %d, want %d", l.HighWatermark(), l.LogEndOffset(), next)
			}
			checkBatches(t, readAll(t, l, 0), want)
		})
	}
}

func checkBatches(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d batches, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
}

func TestReadFromMiddleOfBatchAndLimits(t *testing.T) {
	l := openTest(t, t.TempDir(), testConfig(), Options{})
	for i := 0; i < 10; i++ {
		if _, err := l.Append(testBatch(10, 100, 1, records.CodecNone)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := l.Read(nil, 25, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if h := records.Header(b); h.BaseOffset() != 20 {
		t.Fatalf("first batch base %d, want 20 (the batch holding 25)", h.BaseOffset())
	}
	one, _ := records.PeekSize(b)
	// A limit below one batch returns it whole with minOne, nothing without.
	if b, _ := l.Read(nil, 25, 10, true); len(b) != one {
		t.Fatalf("minOne read %d bytes, want %d", len(b), one)
	}
	if b, _ := l.Read(nil, 25, 10, false); len(b) != 0 {
		t.Fatalf("read without minOne returned %d bytes", len(b))
	}
	// The limit cuts at whole batches.
	if b, _ := l.Read(nil, 0, 2*one+one/2, true); len(b) != 2*one {
		t.Fatalf("read %d bytes, want 2 whole batches (%d)", len(b), 2*one)
	}
	if b, err := l.Read(nil, 100, 1<<20, true); err != nil || len(b) != 0 {
		t.Fatalf("read at the end: %d bytes, %v", len(b), err)
	}
	if _, err := l.Read(nil, 101, 1<<20, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past the end: %v, want ErrOffsetOutOfRange", err)
	}
}

func TestCorruptBatchRejectedLogUnchanged(t *testing.T) {
	l := openTest(t, t.TempDir(), testConfig(), Options{})
	if _, err := l.Append(testBatch(3, 10, 1, records.CodecNone)); err != nil {
		t.Fatal(err)
	}
	size := l.Size()
	bad := testBatch(3, 10, 1, records.CodecNone)
	bad[len(bad)-1] ^= 0xff
	if _, err := l.Append(bad); !errors.Is(err, records.ErrCorrupt) {
		t.Fatalf("corrupt batch: %v, want ErrCorrupt", err)
	}
	short := testBatch(3, 10, 1, records.CodecNone)[:40]
	if _, err := l.Append(short); !errors.Is(err, records.ErrInvalid) {
		t.Fatalf("short batch: %v, want ErrInvalid", err)
	}
	if l.Size() != size || l.LogEndOffset() != 3 {
		t.Fatalf("log changed: size %d->%d, leo %d", size, l.Size(), l.LogEndOffset())
	}
}

func TestRollAndReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 16 << 10
	l := openTest(t, dir, cfg, Options{})
	var want [][]byte
	for i := 0; i < 200; i++ {
		b := testBatch(4, 200, int64(i*10), records.CodecNone)
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, bytes.Clone(b))
	}
	if l.Segments() < 5 {
		t.Fatalf("only %d segments; want rolls", l.Segments())
	}
	checkBatches(t, readAll(t, l, 0), want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openTest(t, dir, cfg, Options{})
	if l2.LogEndOffset() != 800 || l2.HighWatermark() != 800 {
		t.Fatalf("reopened leo %d hw %d", l2.LogEndOffset(), l2.HighWatermark())
	}
	checkBatches(t, readAll(t, l2, 0), want)
	// Every offset reads back the batch that holds it.
	for off := int64(0); off < 800; off += 37 {
		b, err := l2.Read(nil, off, 1, true)
		if err != nil || len(b) == 0 {
			t.Fatalf("read %d: %v", off, err)
		}
		if h := records.Header(b); h.BaseOffset() > off || h.LastOffset() < off {
			t.Fatalf("read %d got batch [%d,%d]", off, h.BaseOffset(), h.LastOffset())
		}
	}
}

func TestReopenWithoutIndexesAndWithBadIndexes(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, testConfig(), Options{})
	var want [][]byte
	for i := 0; i < 100; i++ {
		b := testBatch(4, 200, int64(i), records.CodecNone)
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, bytes.Clone(b))
	}
	l.Close()
	idx, _ := filepath.Glob(filepath.Join(dir, "*.index"))
	tidx, _ := filepath.Glob(filepath.Join(dir, "*.timeindex"))
	if len(idx) < 2 || len(tidx) < 2 {
		t.Fatalf("want index files, have %v %v", idx, tidx)
	}
	os.Remove(idx[0])
	os.WriteFile(idx[1], []byte("garbage!"), 0o644)
	os.WriteFile(tidx[1], []byte{0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0}, 0o644)
	l2 := openTest(t, dir, testConfig(), Options{})
	checkBatches(t, readAll(t, l2, 0), want)
	off, _, found, err := l2.OffsetForTime(50)
	// Batch 47 holds timestamps 47..50, so 50 is its fourth record.
	if err != nil || !found || off != 47*4+3 {
		t.Fatalf("OffsetForTime(50) = %d %v %v, want 191", off, found, err)
	}
}

func TestTornTailCutOnOpen(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, testConfig(), Options{})
	var want [][]byte
	for i := 0; i < 5; i++ {
		b := testBatch(2, 50, 1, records.CodecNone)
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, bytes.Clone(b))
	}
	l.Close()
	name := filepath.Join(dir, "00000000000000000000.log")
	good, _ := os.ReadFile(name)
	torn := testBatch(2, 50, 1, records.CodecNone)
	records.SetBaseOffset(torn, 10)
	f, _ := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(torn[:len(torn)-7])
	f.Close()
	l2 := openTest(t, dir, testConfig(), Options{})
	checkBatches(t, readAll(t, l2, 0), want)
	if fi, _ := os.Stat(name); fi.Size() != int64(len(good)) {
		t.Fatalf("file is %d bytes after recovery, want %d", fi.Size(), len(good))
	}
	if res, err := l2.Append(testBatch(1, 5, 1, records.CodecNone)); err != nil || res.BaseOffset != 10 {
		t.Fatalf("append after recovery: %+v %v", res, err)
	}
}

func TestRetentionBySizeAndTime(t *testing.T) {
	clock := &fakeClock{t: time.UnixMilli(1_000_000)}
	cfg := testConfig()
	cfg.RetentionBytes = 200 << 10
	l := openTest(t, t.TempDir(), cfg, Options{Now: clock.now})
	for i := 0; i < 400; i++ {
		if _, err := l.Append(testBatch(4, 250, int64(i), records.CodecNone)); err != nil {
			t.Fatal(err)
		}
	}
	before := l.Size()
	if err := l.Maintain(); err != nil {
		t.Fatal(err)
	}
	if l.Size() >= before || l.Size() < cfg.RetentionBytes {
		t.Fatalf("size %d -> %d, retention %d", before, l.Size(), cfg.RetentionBytes)
	}
	start := l.LogStartOffset()
	if start == 0 {
		t.Fatal("log start did not move")
	}
	if _, err := l.Read(nil, start-1, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	if b := readAll(t, l, start); len(b) == 0 {
		t.Fatal("nothing readable after retention")
	}
	// By time: everything in closed segments has timestamps < 400.
	cfg.RetentionBytes = -1
	cfg.RetentionMs = 1000
	l.SetConfig(cfg)
	clock.t = time.UnixMilli(10_000)
	if err := l.Maintain(); err != nil {
		t.Fatal(err)
	}
	if l.Segments() != 1 {
		t.Fatalf("%d segments left after time retention, want only the active one", l.Segments())
	}
}

func TestRollByAge(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	cfg := testConfig()
	cfg.SegmentAge = time.Hour
	l := openTest(t, t.TempDir(), cfg, Options{Now: clock.now})
	l.Append(testBatch(1, 10, 1, records.CodecNone))
	clock.t = clock.t.Add(2 * time.Hour)
	if err := l.Maintain(); err != nil {
		t.Fatal(err)
	}
	l.Append(testBatch(1, 10, 1, records.CodecNone))
	if l.Segments() != 2 {
		t.Fatalf("%d segments, want 2 after the age roll", l.Segments())
	}
}

func TestDeleteRecordsPersists(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, testConfig(), Options{})
	for i := 0; i < 300; i++ {
		l.Append(testBatch(4, 200, 1, records.CodecNone))
	}
	segs := l.Segments()
	start, err := l.DeleteRecords(1000)
	if err != nil || start != 1000 {
		t.Fatalf("DeleteRecords: %d %v", start, err)
	}
	if l.Segments() >= segs {
		t.Fatal("no segment deleted")
	}
	if _, err := l.DeleteRecords(5000); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("delete past hw: %v", err)
	}
	b, err := l.Read(nil, 1000, 1<<20, true)
	if err != nil || len(b) == 0 {
		t.Fatalf("read at new start: %v", err)
	}
	l.Close()
	l2 := openTest(t, dir, testConfig(), Options{})
	if l2.LogStartOffset() != 1000 {
		t.Fatalf("log start after reopen %d, want 1000", l2.LogStartOffset())
	}
}

func TestOffsetForTimeAndMaxTimestamp(t *testing.T) {
	l := openTest(t, t.TempDir(), testConfig(), Options{})
	// Batch i holds 5 records with timestamps 100*i .. 100*i+4, except
	// batch 40, whose timestamps are far ahead: as in Kafka, the answer is
	// the first offset (not the closest time) whose timestamp is >= T.
	for i := 0; i < 100; i++ {
		ts := int64(100 * i)
		if i == 40 {
			ts = 1_000_000
		}
		l.Append(testBatch(5, 300, ts, records.CodecLZ4))
	}
	cases := []struct {
		ts, off int64
		found   bool
	}{
		{0, 0, true}, {3, 3, true}, {5, 5, true}, {101, 6, true}, {3999, 200, true},
		{4100, 200, true}, {9904, 200, true}, {1_000_000, 200, true}, {1_000_002, 202, true}, {1_000_004, 204, true}, {1_000_005, 0, false},
	}
	for _, c := range cases {
		off, _, found, err := l.OffsetForTime(c.ts)
		if err != nil || found != c.found || (found && off != c.off) {
			t.Errorf("OffsetForTime(%d) = %d %v %v, want %d %v", c.ts, off, found, err, c.off, c.found)
		}
	}
	off, ts, found, err := l.MaxTimestamp()
	if err != nil || !found || off != 204 || ts != 1_000_004 {
		t.Fatalf("MaxTimestamp = %d %d %v %v", off, ts, found, err)
	}
}

func TestCompaction(t *testing.T) {
	for _, codec := range []records.Codec{records.CodecNone, records.CodecGzip, records.CodecSnappy, records.CodecLZ4, records.CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) { testCompaction(t, codec) })
	}
}

func testCompaction(t *testing.T, codec records.Codec) {
	clock := &fakeClock{t: time.UnixMilli(1_000_000)}
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	cfg.Delete, cfg.Compact = false, true
	cfg.DeleteRetentionMs = 1000
	dir := t.TempDir()
	l := openTest(t, dir, cfg, Options{Now: clock.now})
	latest := map[string]string{}
	val := bytes.Repeat([]byte("v"), 200)
	for round := 0; round < 20; round++ {
		for k := 0; k < 10; k++ {
			key := fmt.Sprintf("key-%d", k)
			v := []byte(fmt.Sprintf("%s-%d-%s", key, round, val))
			if round == 19 && k%3 == 0 {
				v = nil // tombstone
			}
			if _, err := l.Append(keyedBatch(999_000, codec, []byte(key), v)); err != nil {
				t.Fatal(err)
			}
			latest[key] = string(v)
		}
	}
	l.Append(keyedBatch(999_000, codec, nil, []byte("no key")))
	leo, sizeBefore := l.LogEndOffset(), l.Size()
	// The active segment is never compacted (as in Kafka): close it.
	forceRoll(l, clock.t)
	if err := l.Maintain(); err != nil {
		t.Fatal(err)
	}
	if l.Size() >= sizeBefore/2 {
		t.Fatalf("size %d -> %d: compaction removed too little", sizeBefore, l.Size())
	}
	check := func(l *Log, wantTombstones bool) {
		t.Helper()
		seen := map[string]string{}
		tombs := 0
		for _, b := range readAll(t, l, 0) {
			it, _, err := records.Decode(b, nil)
			if err != nil {
				t.Fatal(err)
			}
			for it.Next() {
				r := it.Record()
				if r.Key == nil {
					continue
				}
				if _, dup := seen[string(r.Key)]; dup {
					t.Fatalf("key %s appears twice after compaction", r.Key)
				}
				seen[string(r.Key)] = string(r.Value)
				if r.Value == nil {
					tombs++
				}
			}
		}
		for k, v := range latest {
			got, ok := seen[k]
			if v == "" && !wantTombstones {
				if ok {
					t.Fatalf("expired tombstone for %s kept", k)
				}
				continue
			}
			if !ok || got != v {
				t.Fatalf("key %s: got %q, want latest %q", k, got, v)
			}
		}
		if wantTombstones && tombs != 4 {
			t.Fatalf("%d tombstones, want 4", tombs)
		}
	}
	check(l, true)
	if l.LogEndOffset() != leo {
		t.Fatal("compaction changed the log end offset")
	}
	// Tombstones go once they are older than delete.retention.ms, but
	// only in closed segments: roll so they are.
	l.Append(keyedBatch(2_000_000, codec, []byte("other"), []byte("x")))
	latest["other"] = "x"
	cfg.SegmentBytes = 1 << 20
	clock.t = time.UnixMilli(2_000_000)
	forceRoll(l, clock.t)
	if err := l.Maintain(); err != nil {
		t.Fatal(err)
	}
	check(l, false)
	l.Close()
	check(openTest(t, dir, cfg, Options{Now: clock.now}), false)
}

func TestChangedWakesOnAppend(t *testing.T) {
	l := openTest(t, t.TempDir(), testConfig(), Options{})
	ch := l.Changed()
	select {
	case <-ch:
		t.Fatal("changed before any append")
	default:
	}
	go l.Append(testBatch(1, 10, 1, records.CodecNone))
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("Changed not closed after append")
	}
}

func TestIntervalDurability(t *testing.T) {
	cfg := testConfig()
	cfg.Durability = Durability{Interval: 10 * time.Millisecond}
	dir := t.TempDir()
	l := openTest(t, dir, cfg, Options{})
	res, err := l.AppendNoWait(testBatch(3, 10, 1, records.CodecNone))
	if err != nil {
		t.Fatal(err)
	}
	if l.HighWatermark() != 3 {
		t.Fatalf("hw %d: under interval data is visible once written", l.HighWatermark())
	}
	if err := l.WaitDurable(res); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := l.Append(testBatch(1, 1, 1, records.CodecNone)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if l2 := openTest(t, dir, cfg, Options{}); l2.LogEndOffset() != 3 {
		t.Fatalf("leo after reopen %d", l2.LogEndOffset())
	}
}

func TestParseDurability(t *testing.T) {
	for _, c := range []struct {
		in     string
		exp    Durability
		expErr bool
	}{
		{"always", Durability{Always: true}, false},
		{"none", Durability{}, false},
		{"interval=250ms", Durability{Interval: 250 * time.Millisecond}, false},
		{"interval=0s", Durability{}, true},
		{"interval=x", Durability{}, true},
		{"sometimes", Durability{}, true},
	} {
		t.Run(c.in, func(t *testing.T) {
			d, err := ParseDurability(c.in)
			if (err != nil) != c.expErr || d != c.exp {
				t.Fatalf("got %v %v", d, err)
			}
			if err == nil && d.String() != c.in {
				t.Fatalf("String() = %q", d.String())
			}
		})
	}
}

func forceRoll(l *Log, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.rollLocked(now); err != nil {
		panic(err)
	}
}

func TestCompressedBatchWithBadRecordsRejected(t *testing.T) {
	l := openTest(t, t.TempDir(), testConfig(), Options{})
	b := testBatch(2, 10, 1, records.CodecGzip)
	// Claim three records: the header is self-consistent and the CRC
	// matches, but the compressed records hold only two.
	binary.BigEndian.PutUint32(b[57:], 3)
	binary.BigEndian.PutUint32(b[23:], 2)
	records.SetCRC(b)
	if err := records.Validate(b); err != nil {
		t.Fatalf("header-level validation should pass: %v", err)
	}
	if _, err := l.Append(b); !errors.Is(err, records.ErrInvalid) {
		t.Fatalf("append: %v, want ErrInvalid", err)
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Fatal("log changed")
	}
}

// An index entry that passes its checksum but points at the wrong batch
// must not make reads skip data.
func TestReadIgnoresIndexEntryThatDisagrees(t *testing.T) {
	l := openTest(t, t.TempDir(), testConfig(), Options{})
	for i := 0; i < 40; i++ {
		l.Append(testBatch(4, 200, int64(i*10), records.CodecNone))
	}
	l.mu.Lock()
	s := l.mu.segments[0]
	if len(s.index) < 3 || len(s.times) < 3 {
		l.mu.Unlock()
		t.Fatalf("want several index entries, have %d/%d", len(s.index), len(s.times))
	}
	// Point the entries at the next entry's batch, as a damaged index
	// would: trusting them would skip the batches in between.
	s.index[1].pos = s.index[2].pos
	s.times[1].pos = s.times[2].pos
	l.mu.Unlock()
	for off := int64(0); off < 160; off++ {
		b, err := l.Read(nil, off, 1, true)
		if err != nil || len(b) == 0 {
			t.Fatalf("read %d: %v", off, err)
		}
		if h := records.Header(b); h.BaseOffset() > off || h.LastOffset() < off {
			t.Fatalf("read %d got batch [%d,%d]", off, h.BaseOffset(), h.LastOffset())
		}
	}
	// Batch i holds offsets 4i..4i+3 with timestamps 10i..10i+3.
	for ts := int64(0); ts < 390; ts += 7 {
		i, r := ts/10, ts%10
		want := 4*i + r
		if r > 3 {
			want = 4 * (i + 1)
		}
		off, _, found, err := l.OffsetForTime(ts)
		if err != nil || !found || off != want {
			t.Fatalf("OffsetForTime(%d) = %d %v %v, want %d", ts, off, found, err, want)
		}
	}
}

func TestScan(t *testing.T) {
	l := openTest(t, t.TempDir(), testConfig(), Options{})
	for i := 0; i < 100; i++ {
		l.Append(testBatch(3, 300, 1, records.CodecNone))
	}
	var bases []int64
	err := l.Scan(150, func(b []byte) error {
		bases = append(bases, records.Header(b).BaseOffset())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(bases) != 50 || bases[0] != 150 || bases[49] != 297 {
		t.Fatalf("scanned %d batches from %v", len(bases), bases[:min(3, len(bases))])
	}
	stop := errors.New("stop")
	n := 0
	if err := l.Scan(0, func([]byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Scan did not stop at fn's error: %v after %d", err, n)
	}
}

package log

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/records"
)

// TestSuitesWithFileCache runs tests that roll, compact, retain, delete
// records and reopen with every log's segment files going through a
// descriptor cache of 2: files are evicted and reopened all the time.
func TestSuitesWithFileCache(t *testing.T) {
	testFiles = NewFileCache(2)
	defer func() { testFiles = nil }()
	for name, fn := range map[string]func(*testing.T){
		"RollAndReopen":      TestRollAndReopen,
		"Compaction":         TestCompaction,
		"Retention":          TestRetentionBySizeAndTime,
		"RollByAge":          TestRollByAge,
		"DeleteRecords":      TestDeleteRecordsPersists,
		"TornTail":           TestTornTailCutOnOpen,
		"BadIndexes":         TestReopenWithoutIndexesAndWithBadIndexes,
		"IntervalDurability": TestIntervalDurability,
		"Scan":               TestScan,
	} {
		t.Run(name, fn)
	}
	if st := testFiles.Stats(); st.Evictions == 0 {
		t.Fatalf("no file was evicted: %+v", st)
	}
}

// TestFileCacheEvictionUnderConcurrency appends to four logs that share a
// cache of three descriptors while readers read random offsets of every
// log: each read returns the batch that holds its offset, intact; files are
// evicted and reopened; and the cache ends within its bound.
func TestFileCacheEvictionUnderConcurrency(t *testing.T) {
	files := NewFileCache(3)
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	const nLogs, nBatches = 4, 150
	logs := make([]*Log, nLogs)
	dirs := make([]string, nLogs)
	for i := range logs {
		dirs[i] = t.TempDir()
		logs[i] = openTest(t, dirs[i], cfg, Options{Files: files})
	}
	want := make([][][]byte, nLogs)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i, l := range logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range nBatches {
				b := testBatch(3, 100, int64(j), records.CodecNone)
				if _, err := l.Append(b); err != nil {
					t.Error(err)
					return
				}
				want[i] = append(want[i], bytes.Clone(b))
			}
		}()
	}
	var readers sync.WaitGroup
	for _, l := range logs {
		for range 2 {
			readers.Add(1)
			go func() {
				defer readers.Done()
				var buf []byte
				for {
					select {
					case <-stop:
						return
					default:
					}
					hw := l.HighWatermark()
					if hw == 0 {
						continue
					}
					off := rand.Int64N(hw)
					b, err := l.Read(buf[:0], off, 1, true)
					if err != nil || len(b) == 0 {
						t.Errorf("read %d below hw %d: %d bytes, %v", off, hw, len(b), err)
						return
					}
					if h := records.Header(b); h.BaseOffset() > off || h.LastOffset() < off || records.Validate(b[:h.Size()]) != nil {
						t.Errorf("read %d: wrong or damaged batch [%d,%d]", off, h.BaseOffset(), h.LastOffset())
						return
					}
					buf = b
				}
			}()
		}
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if t.Failed() {
		return
	}
	st := files.Stats()
	if st.Evictions == 0 || st.Opens <= uint64(logs[0].Segments()*nLogs) {
		t.Fatalf("files were not evicted and reopened: %+v", st)
	}
	if st.Open > st.Max {
		t.Fatalf("%d files open, over the cache's %d", st.Open, st.Max)
	}
	for i, l := range logs {
		checkBatches(t, readAll(t, l, 0), want[i])
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if st := files.Stats(); st.Open != 0 {
		t.Fatalf("%d files open after every log closed", st.Open)
	}
	for i := range logs {
		l := openTest(t, dirs[i], cfg, Options{Files: files})
		checkBatches(t, readAll(t, l, 0), want[i])
	}
}

// TestFileCacheFailedReopen: a read that must reopen an evicted file and
// cannot is an error of that read; once the file can be opened again,
// reads work.
func TestFileCacheFailedReopen(t *testing.T) {
	files := NewFileCache(2)
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	dir := t.TempDir()
	l := openTest(t, dir, cfg, Options{Files: files})
	for j := range 40 {
		if _, err := l.Append(testBatch(3, 100, int64(j), records.CodecNone)); err != nil {
			t.Fatal(err)
		}
	}
	if l.Segments() < 4 {
		t.Fatalf("%d segments; want several", l.Segments())
	}
	// Reading the newest segments evicts the first one's descriptor.
	readAll(t, l, l.mu.segments[2].base)
	first := segmentName(dir, 0, logSuffix)
	if err := os.Rename(first, first+".away"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(nil, 0, 1, true); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read of a segment that cannot be reopened: %v, want an error", err)
	}
	if err := os.Rename(first+".away", first); err != nil {
		t.Fatal(err)
	}
	if b, err := l.Read(nil, 0, 1, true); err != nil || len(b) == 0 {
		t.Fatalf("read after the file is back: %d bytes, %v", len(b), err)
	}
}

package log

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/vfs"
)

// Fault-injection tests: the log over a vfs.FaultFS that fails chosen
// writes, syncs, opens, renames and so on. After every fault the log must
// have lost nothing it acknowledged, stay readable, and, once reopened
// without faults, hold a consistent log.

// noSyncFS is the OS filesystem with Sync and SyncDir made no-ops, for
// tests whose check is a reopen in process (where the page cache is the
// disk) and that would otherwise spend their time in fdatasync.
type noSyncFS struct{ vfs.FS }

func (fs noSyncFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := fs.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

func (noSyncFS) SyncDir(string) error { return nil }

type noSyncFile struct{ vfs.File }

func (noSyncFile) Sync() error { return nil }

func newFaultFS() *vfs.FaultFS { return vfs.NewFaultFS(noSyncFS{vfs.Default}) }

// shmTempDir is t.TempDir on a RAM filesystem (/dev/shm) when there is
// one, for tests that do thousands of small file operations and check
// them by reopening in process: on some disks each O_TRUNC open alone
// costs half a millisecond. Tests of real durability use t.TempDir.
func shmTempDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "herald-log-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// faultBatch is a batch of 3 records of about 200 bytes whose values name
// seq; the first two have keys from k0..k4 (compaction drops most of
// them), the third a key of its own (compaction keeps it).
func faultBatch(seq int) []byte {
	recs := make([]records.Record, 3)
	for i := range recs {
		n := seq*3 + i
		v := []byte(fmt.Sprintf("v%06d-", n))
		v = append(v, bytes.Repeat([]byte{byte('a' + n%26)}, 200)...)
		k := "k" + strconv.Itoa(n%5)
		if i == 2 {
			k = "u" + strconv.Itoa(seq)
		}
		recs[i] = records.Record{Key: []byte(k), Value: v, TimestampDelta: int64(i)}
	}
	return records.BuildBatch(records.BatchSpec{
		BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}, recs...)
}

// faultConfig rolls every two or three batches.
func faultConfig() Config {
	c := testConfig()
	c.SegmentBytes = 2 << 10
	return c
}

// activeSize is the byte size of the active segment.
func activeSize(l *Log) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.segments[len(l.mu.segments)-1].size
}

// activeFileSize is the active segment's size on disk.
func activeFileSize(t *testing.T, dir string) int64 {
	t.Helper()
	_, path := activeSegment(t, dir)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// appendAcked appends n batches that must succeed and returns them as
// stored.
func appendAcked(t *testing.T, l *Log, seq, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		b := faultBatch(seq + i)
		if _, err := l.Append(b); err != nil {
			t.Fatalf("append %d: %v", seq+i, err)
		}
		out = append(out, b)
	}
	return out
}

// sameBatches fails unless got and want hold the same batches.
func sameBatches(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d batches, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: batch %d (offset %d) differs", what, i, records.Header(want[i]).BaseOffset())
		}
	}
}

// reopenClean reopens dir without faults and checks it holds want, and
// maybe more batches after them (written but not acknowledged), with
// contiguous offsets; it returns the log, still open.
func reopenClean(t *testing.T, dir string, cfg Config, want [][]byte) *Log {
	t.Helper()
	l := openTest(t, dir, cfg, Options{FS: noSyncFS{vfs.Default}})
	got := readAll(t, l, l.LogStartOffset())
	if len(got) < len(want) {
		t.Fatalf("reopened log has %d batches, %d were acknowledged", len(got), len(want))
	}
	sameBatches(t, "reopened log", got[:len(want)], want)
	next := l.LogStartOffset()
	for _, b := range got {
		if h := records.Header(b); h.BaseOffset() != next {
			t.Fatalf("reopened log: batch at %d, want %d", h.BaseOffset(), next)
		} else {
			next = h.LastOffset() + 1
		}
	}
	if next != l.LogEndOffset() {
		t.Fatalf("reopened log: batches end at %d, log end offset %d", next, l.LogEndOffset())
	}
	return l
}

// TestFaultNoSpace: a write that fails with ENOSPC, whole or after
// writing part of the batch, fails the append and leaves the log, and the
// file, as they were; appends work again once there is space.
func TestFaultNoSpace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		short bool
		roll  bool // the failing append is the first in a new segment
	}{
		{name: "full"},
		{name: "short", short: true},
		{name: "full at roll", roll: true},
		{name: "short at roll", short: true, roll: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := newFaultFS()
			cfg := faultConfig()
			if !tc.roll {
				cfg.SegmentBytes = 1 << 20
			}
			l := openTest(t, dir, cfg, Options{FS: fs})
			want := appendAcked(t, l, 0, 2)
			if tc.roll {
				for activeSize(l)+int64(len(faultBatch(0))) <= cfg.SegmentBytes {
					want = append(want, appendAcked(t, l, len(want), 1)...)
				}
			}
			end, segs := l.LogEndOffset(), l.Segments()
			fs.SetShortWrites(tc.short)
			// At a roll the index writes go first (and fail; they are a
			// cache), then the batch into the new segment.
			fs.FailAfter(vfs.OpWrite, 0, vfs.ErrNoSpace)
			b := faultBatch(len(want))
			if _, err := l.Append(b); !errors.Is(err, vfs.ErrNoSpace) {
				t.Fatalf("append on a full disk: %v, want ENOSPC", err)
			}
			if _, err := l.Append(faultBatch(len(want))); !errors.Is(err, vfs.ErrNoSpace) {
				t.Fatalf("second append on a full disk: %v, want ENOSPC again (not failed: nothing is unknown)", err)
			}
			if got := l.LogEndOffset(); got != end {
				t.Fatalf("log end offset %d after failed appends, want %d", got, end)
			}
			if got := l.HighWatermark(); got != end {
				t.Fatalf("high watermark %d after failed appends, want %d", got, end)
			}
			if got := activeFileSize(t, dir); got != activeSize(l) {
				t.Fatalf("active segment is %d bytes on disk, %d in memory: the partial batch was not cut", got, activeSize(l))
			}
			if tc.roll && l.Segments() != segs+1 {
				t.Fatalf("%d segments, want %d (the roll itself succeeded)", l.Segments(), segs+1)
			}
			sameBatches(t, "after ENOSPC", readAll(t, l, 0), want)

			fs.Reset()
			b = faultBatch(len(want))
			res, err := l.Append(b)
			if err != nil || res.BaseOffset != end {
				t.Fatalf("append after space came back: offset %d, %v; want %d", res.BaseOffset, err, end)
			}
			want = append(want, b)
			sameBatches(t, "after recovery from ENOSPC", readAll(t, l, 0), want)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			reopenClean(t, dir, cfg, want)
		})
	}
}

// TestFaultUndoFails: a short write whose undo (truncate) fails leaves a
// partial batch in the file: the log fails, and recovery cuts it.
func TestFaultUndoFails(t *testing.T) {
	dir := t.TempDir()
	fs := newFaultFS()
	cfg := faultConfig()
	l := openTest(t, dir, cfg, Options{FS: fs})
	want := appendAcked(t, l, 0, 2)
	fs.SetShortWrites(true)
	fs.FailAfter(vfs.OpWrite, 0, vfs.ErrNoSpace)
	fs.FailAfter(vfs.OpTruncate, 0, vfs.ErrIO)
	if _, err := l.Append(faultBatch(2)); !errors.Is(err, ErrFailed) || !errors.Is(err, vfs.ErrNoSpace) {
		t.Fatalf("append whose undo failed: %v, want ENOSPC and ErrFailed", err)
	}
	fs.Reset()
	if _, err := l.Append(faultBatch(2)); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after the log failed: %v, want ErrFailed", err)
	}
	sameBatches(t, "failed log", readAll(t, l, 0), want)
	l.Close()

	rec := newLogRecorder()
	l2, err := Open(dir, cfg, Options{FS: noSyncFS{vfs.Default}, Logger: slog.New(rec)})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if cuts := rec.find("torn tail"); len(cuts) != 1 {
		t.Fatalf("recovery reported %d cuts, want 1 (the half-written batch)", len(cuts))
	}
	sameBatches(t, "reopened", readAll(t, l2, 0), want)
}

// TestFaultSyncFails: a failed fdatasync fails the appends waiting on it
// and every append after it; what was durable before stays readable, and a
// reopen finds every acknowledged batch.
func TestFaultSyncFails(t *testing.T) {
	dir := t.TempDir()
	fs := newFaultFS()
	cfg := faultConfig()
	cfg.SegmentBytes = 1 << 20
	l := openTest(t, dir, cfg, Options{FS: fs})
	want := appendAcked(t, l, 0, 3)
	hw := l.HighWatermark()
	fs.FailAfter(vfs.OpSync, 0, vfs.ErrIO)
	_, err := l.Append(faultBatch(3))
	if !errors.Is(err, vfs.ErrIO) || !errors.Is(err, ErrFailed) {
		t.Fatalf("append whose fsync failed: %v, want EIO and ErrFailed", err)
	}
	fs.Reset() // a later fsync could succeed, but must not be trusted
	for i := range 3 {
		if _, err := l.Append(faultBatch(4 + i)); !errors.Is(err, ErrFailed) {
			t.Fatalf("append after a failed fsync: %v, want ErrFailed", err)
		}
	}
	if err := l.Sync(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Sync after a failed fsync: %v, want ErrFailed", err)
	}
	if got := l.HighWatermark(); got != hw {
		t.Fatalf("high watermark moved from %d to %d past a failed fsync", hw, got)
	}
	sameBatches(t, "after failed fsync", readAll(t, l, 0), want)
	if err := l.Maintain(); err != nil {
		t.Fatalf("maintain on a failed log: %v", err)
	}
	l.Close()
	l2 := reopenClean(t, dir, cfg, want)
	if _, err := l2.Append(faultBatch(9)); err != nil {
		t.Fatalf("append after reopen: %v", err)
	}
}

// TestFaultSyncFailsConcurrent: many appenders are waiting when the fsync
// fails; each of them gets an error, and none of what was acknowledged is
// lost.
func TestFaultSyncFailsConcurrent(t *testing.T) {
	dir := t.TempDir()
	fs := newFaultFS()
	cfg := faultConfig()
	l := openTest(t, dir, cfg, Options{FS: fs})
	var (
		mu    sync.Mutex
		acked = map[int64][]byte{}
		wg    sync.WaitGroup
		armed sync.Once
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			failed := false
			for i := 0; i < 1000; i++ {
				b := faultBatch(w*1000 + i)
				res, err := l.Append(b)
				if err != nil {
					if !errors.Is(err, ErrFailed) {
						t.Errorf("append: %v, want ErrFailed", err)
					}
					if failed {
						return
					}
					failed = true
					continue // one more, which must fail too
				}
				if failed {
					t.Errorf("append succeeded after a failed fsync")
				}
				mu.Lock()
				acked[res.BaseOffset] = b
				if len(acked) == 40 {
					armed.Do(func() { fs.FailAfter(vfs.OpSync, 0, vfs.ErrIO) })
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	hw := l.HighWatermark()
	got := readAll(t, l, 0)
	for _, b := range got {
		if want, ok := acked[records.Header(b).BaseOffset()]; ok && !bytes.Equal(b, want) {
			t.Fatalf("batch at %d changed", records.Header(b).BaseOffset())
		}
	}
	l.Close()
	fs.Reset()
	l2 := openTest(t, dir, cfg, Options{FS: noSyncFS{vfs.Default}})
	if l2.LogEndOffset() < hw {
		t.Fatalf("reopened log ends at %d, below the old high watermark %d", l2.LogEndOffset(), hw)
	}
	present := map[int64][]byte{}
	for _, b := range readAll(t, l2, 0) {
		present[records.Header(b).BaseOffset()] = b
	}
	for off, want := range acked {
		if !bytes.Equal(present[off], want) {
			t.Fatalf("acknowledged batch at %d lost after a failed fsync", off)
		}
	}
	t.Logf("%d batches acknowledged before the fsync failed", len(acked))
}

// TestFaultSyncFailsAtRoll: the fsync of the old segment at a roll fails:
// the append fails, no new segment appears, the log refuses appends, and a
// reopen has everything acknowledged.
func TestFaultSyncFailsAtRoll(t *testing.T) {
	dir := t.TempDir()
	fs := newFaultFS()
	cfg := faultConfig()
	// Interval durability: the roll's fsync is the only one.
	cfg.Durability = Durability{Interval: time.Hour}
	l := openTest(t, dir, cfg, Options{FS: fs})
	want := appendAcked(t, l, 0, 1)
	for activeSize(l)+int64(len(faultBatch(0))) <= cfg.SegmentBytes {
		want = append(want, appendAcked(t, l, len(want), 1)...)
	}
	segs := l.Segments()
	fs.FailAfter(vfs.OpSync, 0, vfs.ErrIO)
	if _, err := l.Append(faultBatch(len(want))); !errors.Is(err, ErrFailed) || !errors.Is(err, vfs.ErrIO) {
		t.Fatalf("append that rolls with a failing fsync: %v, want EIO and ErrFailed", err)
	}
	if l.Segments() != segs {
		t.Fatalf("%d segments after a failed roll, want %d", l.Segments(), segs)
	}
	fs.Reset()
	if _, err := l.Append(faultBatch(len(want))); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after a failed roll: %v, want ErrFailed", err)
	}
	sameBatches(t, "after failed roll", readAll(t, l, 0), want)
	l.Close()
	l2 := reopenClean(t, dir, cfg, want)
	appendAcked(t, l2, len(want), 3)
}

// TestFaultCreateSegment: creating the next segment fails (the open, or
// the directory fsync that makes it durable): the append fails, the log
// is unchanged and still takes appends, which roll once creating works.
func TestFaultCreateSegment(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpOpen, vfs.OpSyncDir} {
		t.Run(op.String(), func(t *testing.T) {
			dir := t.TempDir()
			fs := newFaultFS()
			cfg := faultConfig()
			l := openTest(t, dir, cfg, Options{FS: fs})
			want := appendAcked(t, l, 0, 1)
			for activeSize(l)+int64(len(faultBatch(0))) <= cfg.SegmentBytes {
				want = append(want, appendAcked(t, l, len(want), 1)...)
			}
			end, segs := l.LogEndOffset(), l.Segments()
			fs.FailAfter(op, 0, vfs.ErrNoSpace)
			if _, err := l.Append(faultBatch(len(want))); !errors.Is(err, vfs.ErrNoSpace) || errors.Is(err, ErrFailed) {
				t.Fatalf("append whose new segment cannot be made: %v, want ENOSPC but not ErrFailed", err)
			}
			if l.Segments() != segs || l.LogEndOffset() != end || l.HighWatermark() != end {
				t.Fatalf("failed roll changed the log: %d segments, end %d, hw %d; want %d, %d",
					l.Segments(), l.LogEndOffset(), l.HighWatermark(), segs, end)
			}
			sameBatches(t, "after failed roll", readAll(t, l, 0), want)
			fs.Reset()
			b := faultBatch(len(want))
			if res, err := l.Append(b); err != nil || res.BaseOffset != end {
				t.Fatalf("append after the fault cleared: %d, %v", res.BaseOffset, err)
			}
			want = append(want, b)
			if l.Segments() != segs+1 {
				t.Fatalf("%d segments, want %d", l.Segments(), segs+1)
			}
			l.Close()
			reopenClean(t, dir, cfg, want)
		})
	}
}

// recordModel is the content of a log as (offset -> key, value).
type recordModel map[int64][2]string

func modelOf(t *testing.T, batches [][]byte) recordModel {
	t.Helper()
	m := recordModel{}
	var scratch []byte
	for _, b := range batches {
		h := records.Header(b)
		it, sc, err := records.Decode(b, scratch)
		scratch = sc
		if err != nil {
			t.Fatalf("decode batch at %d: %v", h.BaseOffset(), err)
		}
		for it.Next() {
			r := it.Record()
			m[h.BaseOffset()+int64(r.OffsetDelta)] = [2]string{string(r.Key), string(r.Value)}
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// latest maps each key to its last value.
func (m recordModel) latest() map[string]string {
	offs := make(map[string]int64)
	out := make(map[string]string)
	for off, kv := range m {
		if o, ok := offs[kv[0]]; !ok || off > o {
			offs[kv[0]], out[kv[0]] = off, kv[1]
		}
	}
	return out
}

func sameLatest(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d keys, want %d", what, len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: key %s = %.8q, want %.8q", what, k, got[k], v)
		}
	}
}

// TestFaultCompaction: every I/O step of compacting a segment fails in
// turn. Maintain reports it (except a failed removal of the old indexes,
// which are a cache), and the log stays readable with the same latest
// value per key, before and after a reopen; a later Maintain finishes the
// job.
func TestFaultCompaction(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpOpen, vfs.OpWrite, vfs.OpSync, vfs.OpRename, vfs.OpSyncDir, vfs.OpRemove} {
		t.Run(op.String(), func(t *testing.T) {
			dir := t.TempDir()
			fs := newFaultFS()
			cfg := faultConfig()
			cfg.Compact, cfg.Delete = true, false
			l := openTest(t, dir, cfg, Options{FS: fs})
			appendAcked(t, l, 0, 12)
			before := modelOf(t, readAll(t, l, 0))
			fs.FailAfter(op, 0, vfs.ErrIO)
			err := l.Maintain()
			if op == vfs.OpRemove {
				if err != nil {
					t.Fatalf("maintain with index removal failing: %v", err)
				}
			} else if !errors.Is(err, vfs.ErrIO) {
				t.Fatalf("maintain with %v failing: %v, want EIO", op, err)
			}
			fs.Reset()
			mid := modelOf(t, readAll(t, l, 0))
			sameLatest(t, "after failed compaction", mid.latest(), before.latest())
			for off, kv := range mid {
				if before[off] != kv {
					t.Fatalf("after failed compaction: offset %d holds %.8q, had %.8q", off, kv, before[off])
				}
			}
			if _, err := l.Append(faultBatch(12)); err != nil {
				t.Fatalf("append after failed compaction: %v", err)
			}
			if err := l.Maintain(); err != nil {
				t.Fatalf("maintain once the fault cleared: %v", err)
			}
			after := modelOf(t, readAll(t, l, 0))
			if len(after) >= len(before) {
				t.Fatalf("compaction kept %d of %d records", len(after), len(before))
			}
			l.Close()
			l2 := openTest(t, dir, cfg, Options{FS: noSyncFS{vfs.Default}})
			sameLatest(t, "reopened", modelOf(t, readAll(t, l2, 0)).latest(), after.latest())
			if leftovers, _ := os.ReadDir(dir); len(leftovers) > 0 {
				for _, e := range leftovers {
					if strings.HasSuffix(e.Name(), cleanedSuffix) {
						t.Fatalf("leftover %s after reopen", e.Name())
					}
				}
			}
		})
	}
}

// TestFaultDeleteRecords: every I/O step of storing the new log start
// offset fails in turn. DeleteRecords reports it and leaves the log start
// where it was in memory; after a reopen it is the old or the new one
// (the rename may have happened), and the data from there on is intact.
func TestFaultDeleteRecords(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpOpen, vfs.OpWrite, vfs.OpSync, vfs.OpRename, vfs.OpSyncDir, vfs.OpRemove} {
		t.Run(op.String(), func(t *testing.T) {
			dir := t.TempDir()
			fs := newFaultFS()
			cfg := faultConfig()
			l := openTest(t, dir, cfg, Options{FS: fs})
			want := appendAcked(t, l, 0, 12)
			before := records.Header(want[5]).BaseOffset() + 1 // inside batch 5
			fs.FailAfter(op, 0, vfs.ErrIO)
			start, err := l.DeleteRecords(before)
			if op == vfs.OpRemove {
				// Removing the segments below the new start is cleanup:
				// the start offset is stored by then.
				if err != nil || start != before {
					t.Fatalf("delete-records with removal failing: %d, %v; want %d, nil", start, err, before)
				}
			} else {
				if !errors.Is(err, vfs.ErrIO) {
					t.Fatalf("delete-records with %v failing: %v, want EIO", op, err)
				}
				if l.LogStartOffset() != 0 {
					t.Fatalf("log start %d after a failed delete-records, want 0", l.LogStartOffset())
				}
				sameBatches(t, "after failed delete-records", readAll(t, l, 0), want)
			}
			fs.Reset()
			l.Close()
			l2 := openTest(t, dir, cfg, Options{FS: noSyncFS{vfs.Default}})
			start = l2.LogStartOffset()
			if start != 0 && start != before {
				t.Fatalf("reopened log start %d, want 0 or %d", start, before)
			}
			got := readAll(t, l2, start)
			k := len(want) - len(got)
			if k < 0 || k > 5 {
				t.Fatalf("reopened log from %d has %d batches, want %d - (0..5)", start, len(got), len(want))
			}
			sameBatches(t, "reopened", got, want[k:])
			if start, err := l2.DeleteRecords(before); err != nil || start != before {
				t.Fatalf("delete-records after reopen: %d, %v", start, err)
			}
			if _, err := l2.Read(nil, before-1, 1<<20, true); !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("read below the log start: %v, want ErrOffsetOutOfRange", err)
			}
		})
	}
}

// ---- fail at op i until success ----

// injectedError marks the errors the loop injects, so that a transient
// fault can tell its own error from others.
type injectedError struct{ err error }

func (e *injectedError) Error() string { return "injected: " + e.err.Error() }
func (e *injectedError) Unwrap() error { return e.err }

// onceFS makes a FaultFS rule fail one operation only: the first time an
// injected error comes back, it clears the rules.
type onceFS struct {
	*vfs.FaultFS
	injected error
}

func (fs *onceFS) seen(err error) error {
	if err != nil && errors.Is(err, fs.injected) {
		fs.FaultFS.Reset()
	}
	return err
}

func (fs *onceFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := fs.FaultFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, fs.seen(err)
	}
	return onceFile{f, fs}, nil
}

func (fs *onceFS) Rename(oldname, newname string) error {
	return fs.seen(fs.FaultFS.Rename(oldname, newname))
}
func (fs *onceFS) Remove(name string) error { return fs.seen(fs.FaultFS.Remove(name)) }
func (fs *onceFS) SyncDir(dir string) error { return fs.seen(fs.FaultFS.SyncDir(dir)) }

type onceFile struct {
	vfs.File
	fs *onceFS
}

func (f onceFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	return n, f.fs.seen(err)
}
func (f onceFile) Sync() error               { return f.fs.seen(f.File.Sync()) }
func (f onceFile) Truncate(size int64) error { return f.fs.seen(f.File.Truncate(size)) }

// everyOpRun is one run of the fixed workload and what it learned.
type everyOpRun struct {
	dir string
	fs  vfs.FS
	cfg Config
	seq int
	// acked holds the acknowledged batches as stored.
	acked [][]byte
	// attempted maps every value ever appended to its key.
	attempted map[string]string
	// compactBelow: offsets below it may have been compacted away (the
	// log end offset when a Maintain last started).
	compactBelow int64
	// deleteBefore is the highest DeleteRecords asked for, 0 if none.
	deleteBefore int64
}

func (r *everyOpRun) open() *Log {
	// A failed open is retried once, as an operator would.
	for range 2 {
		if l, err := Open(r.dir, r.cfg, Options{FS: r.fs, Logger: quietLogger()}); err == nil {
			return l
		}
	}
	return nil
}

func (r *everyOpRun) appends(l *Log, n int) {
	for range n {
		b := faultBatch(r.seq)
		r.seq++
		for kv := range modelOfQuiet(b) {
			r.attempted[kv[1]] = kv[0]
		}
		if _, err := l.Append(b); err == nil {
			r.acked = append(r.acked, b)
		}
	}
}

// modelOfQuiet yields the key and value of every record of a batch we
// built ourselves.
func modelOfQuiet(b []byte) map[[2]string]bool {
	out := map[[2]string]bool{}
	it, _, err := records.Decode(b, nil)
	if err != nil {
		panic(err)
	}
	for it.Next() {
		out[[2]string{string(it.Record().Key), string(it.Record().Value)}] = true
	}
	return out
}

func (r *everyOpRun) maintain(l *Log) {
	r.compactBelow = max(r.compactBelow, l.LogEndOffset())
	l.Maintain()
}

// workload: open, append across rolls, compact, delete records, close,
// reopen, append, compact, close. Errors are expected and ignored: the
// check afterwards decides whether the log survived them.
func (r *everyOpRun) workload() {
	l := r.open()
	if l == nil {
		return
	}
	r.appends(l, 8)
	r.maintain(l)
	before := min(int64(7), l.HighWatermark())
	r.deleteBefore = max(r.deleteBefore, before)
	l.DeleteRecords(before)
	l.Close()
	if l = r.open(); l == nil {
		return
	}
	r.appends(l, 3)
	r.maintain(l)
	l.Close()
}

// check reopens without faults and checks that the log is readable, that
// every acknowledged record at or above the log start is there (or was
// compacted away in favor of a later record with its key), that batches
// compaction could not have touched are byte-identical, that offsets have
// no gaps but compaction's, that nothing appears that was never appended,
// and that the log takes appends.
func (r *everyOpRun) check(t *testing.T) {
	t.Helper()
	l, err := Open(r.dir, r.cfg, Options{FS: noSyncFS{vfs.Default}, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("open without faults: %v", err)
	}
	defer l.Close()
	start, end := l.LogStartOffset(), l.LogEndOffset()
	if hw := l.HighWatermark(); hw != end {
		t.Fatalf("high watermark %d, log end %d", hw, end)
	}
	if start != 0 && start > r.deleteBefore {
		t.Fatalf("log start %d, but delete-records asked only for %d", start, r.deleteBefore)
	}
	batches := readAll(t, l, start)
	byBase := map[int64][]byte{}
	prevLast := start - 1
	for i, b := range batches {
		h := records.Header(b)
		if err := records.ValidateStored(b); err != nil {
			t.Fatalf("batch at %d: %v", h.BaseOffset(), err)
		}
		if i > 0 && h.BaseOffset() <= prevLast {
			t.Fatalf("batch at %d overlaps the one before (last offset %d)", h.BaseOffset(), prevLast)
		}
		if h.BaseOffset() > max(prevLast+1, start) && h.BaseOffset() > r.compactBelow {
			t.Fatalf("offsets %d..%d missing above %d, where compaction never ran", prevLast+1, h.BaseOffset()-1, r.compactBelow)
		}
		byBase[h.BaseOffset()] = b
		prevLast = h.LastOffset()
	}
	if prevLast+1 != end && end > r.compactBelow {
		t.Fatalf("batches end at %d, log end offset is %d", prevLast+1, end)
	}
	model := modelOf(t, batches)
	last := map[string]int64{}
	for off, kv := range model {
		if off < start {
			continue
		}
		if key, ok := r.attempted[kv[1]]; !ok || key != kv[0] {
			t.Fatalf("offset %d holds %q=%.8q, which was never appended", off, kv[0], kv[1])
		}
		last[kv[0]] = max(last[kv[0]], off)
	}
	for _, b := range r.acked {
		h := records.Header(b)
		if h.BaseOffset() >= r.compactBelow && !bytes.Equal(byBase[h.BaseOffset()], b) {
			t.Fatalf("acknowledged batch at %d lost or changed (log [%d, %d))", h.BaseOffset(), start, end)
		}
		for kv := range modelOfQuiet(b) {
			off := h.BaseOffset() + int64(recordIndex(b, kv))
			if off < start {
				continue
			}
			if got, ok := model[off]; ok {
				if got != kv {
					t.Fatalf("offset %d holds %q=%.8q, acknowledged %q=%.8q", off, got[0], got[1], kv[0], kv[1])
				}
			} else if !(off < r.compactBelow && last[kv[0]] > off) {
				t.Fatalf("acknowledged record %q=%.8q at %d lost (log [%d, %d), compacted below %d)",
					kv[0], kv[1], off, start, end, r.compactBelow)
			}
		}
	}
	if res, err := l.Append(faultBatch(99999)); err != nil || res.BaseOffset != end {
		t.Fatalf("append after reopen: offset %d, %v; want %d", res.BaseOffset, err, end)
	}
}

// recordIndex returns the offset delta of the record kv in b.
func recordIndex(b []byte, kv [2]string) int32 {
	it, _, _ := records.Decode(b, nil)
	for it.Next() {
		if r := it.Record(); string(r.Key) == kv[0] && string(r.Value) == kv[1] {
			return r.OffsetDelta
		}
	}
	panic("record not in batch")
}

// TestFaultEveryOp runs a fixed workload failing the i-th operation of
// one kind (and, persistently, every later one; or only that one) for
// i = 0, 1, 2, … until the workload finishes without reaching it, and
// checks the log after each run (pebble's TestErrors).
func TestFaultEveryOp(t *testing.T) {
	type opCase struct {
		op    vfs.Op
		short bool
		err   error
	}
	cases := []opCase{
		{op: vfs.OpWrite, err: vfs.ErrNoSpace},
		{op: vfs.OpWrite, err: vfs.ErrNoSpace, short: true},
		{op: vfs.OpSync, err: vfs.ErrIO},
		{op: vfs.OpOpen, err: vfs.ErrNoSpace},
		{op: vfs.OpRename, err: vfs.ErrIO},
		{op: vfs.OpSyncDir, err: vfs.ErrIO},
		{op: vfs.OpRemove, err: vfs.ErrIO},
		{op: vfs.OpTruncate, err: vfs.ErrIO, short: true}, // reached through short writes' undo
	}
	for _, c := range cases {
		for _, once := range []bool{false, true} {
			name := c.op.String()
			if c.short {
				name += "-short"
			}
			if once {
				name += "/once"
			} else {
				name += "/from-then-on"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				runs := 0
				for i := 0; ; i++ {
					ffs := vfs.NewFaultFS(noSyncFS{vfs.Default})
					injected := &injectedError{c.err}
					var fs vfs.FS = ffs
					if once {
						fs = &onceFS{FaultFS: ffs, injected: injected}
					}
					if c.short {
						ffs.SetShortWrites(true)
					}
					if c.op == vfs.OpTruncate {
						// Short writes happen only when a write fails:
						// fail every third one, and truncates after i.
						ffs.FailAfter(vfs.OpWrite, 3, vfs.ErrNoSpace)
					}
					ffs.FailAfter(c.op, i, injected)
					r := &everyOpRun{dir: shmTempDir(t), fs: fs, cfg: faultConfig(), attempted: map[string]string{}}
					r.cfg.Compact, r.cfg.Delete = true, true
					r.workload()
					hit := ffs.Count(c.op) > i
					runs++
					func() {
						defer func() {
							if t.Failed() {
								t.Logf("failing %v #%d (once=%v): %d acknowledged", c.op, i, once, len(r.acked))
							}
						}()
						r.check(t)
					}()
					if t.Failed() || !hit {
						break
					}
					if i > 5000 {
						t.Fatalf("workload still reaches %v #%d", c.op, i)
					}
				}
				t.Logf("%d runs", runs)
			})
		}
	}
}

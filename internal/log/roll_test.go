package log

import (
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/vfs"
)

// holdSyncFS holds the fsync of every .log file while armed, until
// released, and says when one is held.
type holdSyncFS struct {
	vfs.FS
	armed   atomic.Bool
	held    chan struct{}
	release chan struct{}
}

func (fs *holdSyncFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := fs.FS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, logSuffix) {
		return f, err
	}
	return &holdSyncFile{File: f, fs: fs}, nil
}

type holdSyncFile struct {
	vfs.File
	fs *holdSyncFS
}

func (f *holdSyncFile) Sync() error {
	if f.fs.armed.CompareAndSwap(true, false) {
		f.fs.held <- struct{}{}
		<-f.fs.release
	}
	return f.File.Sync()
}

// TestRollSyncsOutsideTheLock: while a roll's fsync of the old segment
// runs, reads and offset queries of the log go on (they take the log's
// lock), and an append waits for the new segment; once the sync ends,
// everything is in order in two segments and survives a reopen.
func TestRollSyncsOutsideTheLock(t *testing.T) {
	fs := &holdSyncFS{FS: vfs.Default, held: make(chan struct{}), release: make(chan struct{})}
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	cfg.Durability = Durability{} // only the roll syncs
	dir := t.TempDir()
	l := openTest(t, dir, cfg, Options{FS: fs})
	batch := testBatch(3, 300, 1, records.CodecNone)
	var want [][]byte
	for l.Size()+2*int64(len(batch)) <= cfg.SegmentBytes {
		if _, err := l.Append(batch); err != nil {
			t.Fatal(err)
		}
		want = append(want, append([]byte(nil), batch...))
	}
	if _, err := l.Append(batch); err != nil { // the last that fits
		t.Fatal(err)
	}
	want = append(want, append([]byte(nil), batch...))
	fs.armed.Store(true)
	rolled := make(chan error, 1)
	second := append([]byte(nil), batch...)
	go func() {
		_, err := l.Append(second) // rolls
		rolled <- err
	}()
	select {
	case <-fs.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the append did not roll")
	}
	queried := make(chan error, 1)
	leo := int64(3 * len(want))
	go func() {
		_, err := l.Read(nil, 0, 1<<20, true)
		if err == nil && l.LogEndOffset() != leo {
			err = os.ErrInvalid
		}
		queried <- err
	}()
	third := append([]byte(nil), batch...)
	appended := make(chan error, 1)
	go func() {
		_, err := l.Append(third)
		appended <- err
	}()
	select {
	case err := <-queried:
		if err != nil {
			t.Errorf("read during the roll's sync: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("a read waited for the roll's fsync: it runs under the log lock")
	}
	select {
	case err := <-appended:
		t.Errorf("an append finished before the new segment existed: %v", err)
	default:
	}
	close(fs.release)
	for _, ch := range []chan error{rolled, appended} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if t.Failed() {
		return
	}
	want = append(want, second, third)
	if l.Segments() != 2 {
		t.Fatalf("%d segments after one roll", l.Segments())
	}
	checkBatches(t, readAll(t, l, 0), want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	checkBatches(t, readAll(t, openTest(t, dir, cfg, Options{}), 0), want)
}

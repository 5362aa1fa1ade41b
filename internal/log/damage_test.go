package log

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/records"
)

// TestRecoveryKeepsBatchesBeforeDamagedLast: damage inside the last batch
// of a cleanly closed active segment (whose index names that batch) keeps
// every batch before it readable, moves the damaged one aside, and never
// gives its offsets out again, across restarts.
func TestRecoveryKeepsBatchesBeforeDamagedLast(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	l := openTest(t, dir, cfg, Options{})
	var want [][]byte
	for i := 0; i < 40; i++ {
		b := testBatch(3, 100, int64(i), records.CodecNone)
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, bytes.Clone(b))
	}
	if l.Segments() != 1 {
		t.Fatalf("test wants one segment, have %d", l.Segments())
	}
	lastAcked := l.LogEndOffset() - 1
	l.Close()
	name := segmentName(dir, 0, logSuffix)
	data, _ := os.ReadFile(name)
	data[len(data)-10] ^= 0x40 // inside the last batch's records
	os.WriteFile(name, data, 0o600)

	rec := newLogRecorder()
	l2 := openTest(t, dir, cfg, Options{Logger: slog.New(rec)})
	checkBatches(t, readAll(t, l2, 0), want[:len(want)-1])
	if got := l2.LogEndOffset(); got <= lastAcked {
		t.Fatalf("log end offset %d after recovery: offsets up to %d were acknowledged", got, lastAcked)
	}
	if len(rec.find("damaged tail")) != 1 {
		t.Fatalf("recovery did not report the damaged tail: %v", rec.find(""))
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "*"+damagedSuffix))
	if len(aside) != 1 {
		t.Fatalf("damaged bytes kept in %v", aside)
	}
	if b, _ := os.ReadFile(aside[0]); !bytes.Equal(b, data[len(data)-len(want[len(want)-1]):]) {
		t.Fatalf("kept %d bytes aside, want the damaged batch's %d", len(b), len(want[len(want)-1]))
	}
	nb := testBatch(2, 10, 99, records.CodecNone)
	res, err := l2.Append(nb)
	if err != nil || res.BaseOffset <= lastAcked {
		t.Fatalf("append after recovery: offset %d, %v; offsets up to %d were acknowledged", res.BaseOffset, err, lastAcked)
	}
	l2.Close()

	l3 := openTest(t, dir, cfg, Options{})
	got := readAll(t, l3, 0)
	checkBatches(t, got, append(want[:len(want)-1:len(want)-1], nb))
	if _, err := l3.Read(nil, lastAcked, 1<<20, true); err != nil {
		t.Fatalf("read in the gap: %v", err)
	}
}

func TestLogFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p-0")
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	l := openTest(t, dir, cfg, Options{})
	for i := 0; i < 30; i++ {
		if _, err := l.Append(testBatch(3, 100, int64(i), records.CodecNone)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.DeleteRecords(5); err != nil {
		t.Fatal(err)
	}
	l.Close()
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("log dir mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	ents, _ := os.ReadDir(dir)
	kinds := map[string]bool{}
	for _, e := range ents {
		fi, _ := e.Info()
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), fi.Mode().Perm())
		}
		kinds[filepath.Ext(e.Name())] = true
	}
	for _, k := range []string{logSuffix, indexSuffix, timeIndexSuffix, ""} {
		if !kinds[k] {
			t.Errorf("no %q file checked: %v", k, kinds)
		}
	}
}

var _ = errors.Is

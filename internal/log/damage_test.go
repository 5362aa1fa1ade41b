package log

import (
	"bytes"
	"context"
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
	if _, err := l2.Read(nil, lastAcked, 1<<20, true); !errors.Is(err, ErrDamaged) {
		t.Fatalf("read of an offset just moved aside: %v, want ErrDamaged", err)
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
	if _, err := l3.Read(nil, lastAcked, 1<<20, true); !errors.Is(err, ErrDamaged) {
		t.Fatalf("read of an offset moved aside: %v, want ErrDamaged", err)
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

// closedFixture writes a log of several closed segments and returns its
// batches as stored, and the segment bases.
func closedFixture(t *testing.T, dir string) ([][]byte, []int64) {
	t.Helper()
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	l, err := Open(dir, cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := 0; i < 40; i++ {
		b := testBatch(2+i%3, 100, int64(i), records.CodecNone)
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(b))
	}
	var bases []int64
	l.mu.RLock()
	for _, s := range l.mu.segments {
		bases = append(bases, s.base)
	}
	l.mu.RUnlock()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if len(bases) < 4 {
		t.Fatalf("fixture has %d segments, want at least 4", len(bases))
	}
	return out, bases
}

// batchAt finds the stored batch whose base offset is in segment base and
// returns its byte position in the segment.
func batchPos(batches [][]byte, segBase int64, i int) int64 {
	pos := int64(0)
	for _, b := range batches {
		if base := records.Header(b).BaseOffset(); base >= segBase && base < records.Header(batches[i]).BaseOffset() {
			pos += int64(len(b))
		}
	}
	return pos
}

// readAround reads every offset of the log one batch at a time, seeking
// past damaged ranges, and returns the good batches and the damaged
// offsets' errors.
func readAround(t *testing.T, l *Log) ([][]byte, []error) {
	t.Helper()
	var good [][]byte
	var errs []error
	for off := l.LogStartOffset(); off < l.HighWatermark(); {
		b, err := l.Read(nil, off, 1, true)
		if errors.Is(err, ErrDamaged) {
			errs = append(errs, err)
			off++
			continue
		}
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if len(b) == 0 {
			break
		}
		good = append(good, b)
		off = records.Header(b).LastOffset() + 1
	}
	return good, errs
}

// TestVerifyFindsClosedSegmentDamage: a flipped byte in the middle of a
// closed segment is not noticed at open (its index checks out), but
// Verify finds it, reports its offsets and byte range, and from then on a
// read of those offsets fails with ErrDamaged while every other offset
// reads byte-identical. VerifyDir finds the same damage offline.
func TestVerifyFindsClosedSegmentDamage(t *testing.T) {
	dir := t.TempDir()
	batches, bases := closedFixture(t, dir)
	// The second batch of the second segment.
	var victim int
	for i, b := range batches {
		if records.Header(b).BaseOffset() > bases[1] {
			victim = i
			break
		}
	}
	vh := records.Header(batches[victim])
	pos := batchPos(batches, bases[1], victim)
	name := segmentName(dir, bases[1], logSuffix)
	data, _ := os.ReadFile(name)
	data[pos+80] ^= 0x01
	os.WriteFile(name, data, 0o600)

	offline, err := VerifyDir(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Damage{File: name, Segment: bases[1], Pos: pos, End: pos + int64(len(batches[victim])),
		FirstOffset: vh.BaseOffset(), LastOffset: vh.LastOffset()}
	if len(offline) != 1 || !sameDamage(offline[0], want) {
		t.Fatalf("VerifyDir found %v, want %v", offline, want)
	}

	l := openTest(t, dir, testConfig(), Options{})
	if _, err := l.Read(nil, vh.BaseOffset(), 1<<20, true); err != nil {
		t.Fatalf("before Verify, read of the damaged batch: %v (the index hides it)", err)
	}
	found, err := l.Verify(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || !sameDamage(found[0], want) {
		t.Fatalf("Verify found %v, want %v", found, want)
	}
	good, errs := readAround(t, l)
	if len(errs) != int(vh.LastOffset()-vh.BaseOffset()+1) {
		t.Fatalf("%d reads failed with ErrDamaged, want one per damaged offset: %v", len(errs), errs)
	}
	checkBatches(t, good, append(batches[:victim:victim], batches[victim+1:]...))
	// A read that starts before the damage stops at it.
	b, err := l.Read(nil, records.Header(batches[victim-1]).BaseOffset(), 1<<20, true)
	if err != nil || !bytes.Equal(b, batches[victim-1]) {
		t.Fatalf("read before the damage: %d bytes, %v; want just the batch before it", len(b), err)
	}
	if fi, _ := os.Stat(name); fi.Size() != int64(len(data)) {
		t.Fatalf("segment is %d bytes after Verify, want %d: nothing may be cut", fi.Size(), len(data))
	}
}

func sameDamage(got, want Damage) bool {
	got.Reason = ""
	return got == want
}

// TestClosedSegmentHeaderDamageNotCut: a damaged batch length in a closed
// segment whose indexes are gone used to be "repaired" by cutting the rest
// of the segment. Now nothing is cut: the damage is reported, the batches
// after it still read, and reads of its offsets fail with ErrDamaged.
func TestClosedSegmentHeaderDamageNotCut(t *testing.T) {
	dir := t.TempDir()
	batches, bases := closedFixture(t, dir)
	var victim int
	for i, b := range batches {
		if records.Header(b).BaseOffset() > bases[1] {
			victim = i
			break
		}
	}
	vh := records.Header(batches[victim])
	pos := batchPos(batches, bases[1], victim)
	name := segmentName(dir, bases[1], logSuffix)
	data, _ := os.ReadFile(name)
	data[pos+9] ^= 0x10 // batchLength
	os.WriteFile(name, data, 0o600)
	os.Remove(segmentName(dir, bases[1], indexSuffix))

	rec := newLogRecorder()
	l := openTest(t, dir, testConfig(), Options{Logger: slog.New(rec)})
	if fi, _ := os.Stat(name); fi.Size() != int64(len(data)) {
		t.Fatalf("segment cut to %d bytes at open, was %d", fi.Size(), len(data))
	}
	reports := rec.find("damaged range in closed segment")
	if len(reports) != 1 || reports[0].attrs["first_offset"].Int64() != vh.BaseOffset() ||
		reports[0].attrs["last_offset"].Int64() != vh.LastOffset() || reports[0].attrs["position"].Int64() != pos {
		t.Fatalf("reports %v, want one for offsets %d-%d at %d", reports, vh.BaseOffset(), vh.LastOffset(), pos)
	}
	good, errs := readAround(t, l)
	if len(errs) == 0 {
		t.Fatal("no read failed with ErrDamaged")
	}
	checkBatches(t, good, append(batches[:victim:victim], batches[victim+1:]...))
}

// TestLogDamageMatrix damages each kind of log file each way at the head,
// middle and tail, reopens the log and runs Verify, and checks that every
// batch before the damage reads back byte-identical (reads of damaged
// offsets fail with ErrDamaged, and reading goes on past them), that the
// next append gets an offset above every offset ever acknowledged, and
// that the damage is reported.
func TestLogDamageMatrix(t *testing.T) {
	for _, file := range []string{"active", "closed", "index", "timeindex", "logstart", "logend"} {
		for _, how := range []string{"flip", "truncate", "zero", "delete"} {
			for _, where := range []string{"head", "middle", "tail"} {
				if how == "delete" && where != "head" {
					continue
				}
				t.Run(file+"/"+how+"/"+where, func(t *testing.T) {
					t.Parallel()
					runLogDamage(t, file, how, where)
				})
			}
		}
	}
}

func runLogDamage(t *testing.T, file, how, where string) {
	dir := t.TempDir()
	batches, bases := closedFixture(t, dir)
	{
		l := openTest(t, dir, testConfig(), Options{})
		if _, err := l.DeleteRecords(1); err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
	seg := bases[1]
	if file == "active" {
		seg = bases[len(bases)-1]
	}
	path := map[string]string{"active": segmentName(dir, seg, logSuffix), "closed": segmentName(dir, seg, logSuffix),
		"index": segmentName(dir, seg, indexSuffix), "timeindex": segmentName(dir, seg, timeIndexSuffix),
		"logstart": filepath.Join(dir, logStartFile), "logend": filepath.Join(dir, endFile)}[file]
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int64{"head": 0, "middle": int64(len(data)) / 2, "tail": int64(len(data)) - 1}[where]
	lost, upTo := int64(1<<62), int64(1<<62)
	if file == "active" || file == "closed" {
		// Inside a batch's records, under the CRC.
		start := int64(0)
		for {
			n, _ := records.PeekSize(data[start:])
			if start+int64(n) > pos {
				pos = start + min(70, int64(n)-2)
				break
			}
			start += int64(n)
		}
		lost = records.Header(data[start:]).BaseOffset()
		if how == "delete" {
			lost = seg
		}
		if file == "closed" {
			upTo = bases[2]
		}
	}
	switch how {
	case "flip":
		data[pos] ^= 0x40
		err = os.WriteFile(path, data, 0o600)
	case "truncate":
		err = os.Truncate(path, pos)
	case "zero":
		clear(data[pos:min(pos+64, int64(len(data)))])
		err = os.WriteFile(path, data, 0o600)
	case "delete":
		err = os.Remove(path)
	}
	if err != nil {
		t.Fatal(err)
	}

	offline, err := VerifyDir(nil, dir)
	if err != nil {
		t.Fatalf("VerifyDir: %v", err)
	}
	// Offline, damage must show wherever bytes were flipped or zeroed,
	// and where a closed segment or an index was cut short.
	offlineSees := how == "flip" || how == "zero" ||
		(how == "truncate" && (file == "closed" || file == "index" || file == "timeindex"))
	if offlineSees && len(offline) == 0 {
		t.Errorf("VerifyDir found nothing")
	}
	rec := newLogRecorder()
	l := openTest(t, dir, testConfig(), Options{Logger: slog.New(rec)})
	found, err := l.Verify(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := readAround(t, l)
	byBase := map[int64][]byte{}
	for _, b := range good {
		byBase[records.Header(b).BaseOffset()] = b
	}
	maxAcked := int64(-1)
	for _, b := range batches {
		h := records.Header(b)
		maxAcked = max(maxAcked, h.LastOffset())
		if h.BaseOffset() < 1 || (h.LastOffset() >= lost && h.BaseOffset() < upTo) {
			continue
		}
		if got := byBase[h.BaseOffset()]; !bytes.Equal(got, b) {
			t.Errorf("batch at %d: read %d bytes, want %d identical (damage from offset %d)", h.BaseOffset(), len(got), len(b), lost)
		}
	}
	reported := len(found) > 0
	for _, m := range []string{"damaged tail", "torn tail", "damaged range", "index files disagree", "segment file missing", "ignoring unreadable log start", "segment data below the log end checkpoint", "ignoring damaged log end"} {
		reported = reported || len(rec.find(m)) > 0
	}
	silentOK := (how == "delete" && file != "active" && file != "closed") || (file == "logend" && how == "truncate" && where == "tail") ||
		(file == "logstart" && (how == "truncate" && where != "head" || how == "delete"))
	if !reported && !silentOK {
		t.Errorf("damage not reported; log: %v", rec.find(""))
	}
	res, err := l.Append(testBatch(1, 10, 1, records.CodecNone))
	if err != nil || res.BaseOffset <= maxAcked {
		t.Fatalf("append after recovery: offset %d, %v; offsets up to %d were acknowledged", res.BaseOffset, err, maxAcked)
	}
}

// TestCompactionLeavesDamagedSegment: compaction rewrites closed segments,
// but never one with a damaged range, whose damaged bytes it would drop.
func TestCompactionLeavesDamagedSegment(t *testing.T) {
	dir := t.TempDir()
	batches, bases := closedFixture(t, dir)
	name := segmentName(dir, bases[1], logSuffix)
	data, _ := os.ReadFile(name)
	data[100] ^= 0x40
	os.WriteFile(name, data, 0o600)
	cfg := testConfig()
	cfg.Compact, cfg.Delete = true, false
	l := openTest(t, dir, cfg, Options{})
	if found, err := l.Verify(context.Background(), 0); err != nil || len(found) != 1 {
		t.Fatalf("Verify: %v, %v", found, err)
	}
	before := l.Size()
	if err := l.Maintain(); err != nil {
		t.Fatal(err)
	}
	if l.Size() >= before {
		t.Fatalf("compaction did not run: %d bytes before and after", before)
	}
	if got, _ := os.ReadFile(name); !bytes.Equal(got, data) {
		t.Fatalf("the damaged segment was rewritten: %d bytes, was %d", len(got), len(data))
	}
	if _, err := l.Read(nil, records.Header(batches[len(batches)-1]).BaseOffset(), 1<<20, true); err != nil {
		t.Fatal(err)
	}
}

package metadata

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/vfs"
)

// threeTopics writes a log (and, through Open and Append, its snapshot)
// with a cluster id and topics a, b, c, and returns the dir.
func threeTopics(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ml, _, err := Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Record{
		{Type: SetClusterID, ClusterID: "c1"},
		{Type: CreateTopic, Topic: "a", ID: TopicID{1}, Partitions: 1, Configs: map[string]string{"retention.ms": "-1"}},
		{Type: CreateTopic, Topic: "b", ID: TopicID{2}, Partitions: 2},
		{Type: CreateTopic, Topic: "c", ID: TopicID{3}, Partitions: 3},
	} {
		if err := ml.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := ml.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func wantThree(t *testing.T, st *State) {
	t.Helper()
	if st.ClusterID != "c1" || len(st.Topics) != 3 || st.Topics["a"].Configs["retention.ms"] != "-1" ||
		st.Topics["b"].Partitions != 2 || st.Topics["c"].ID != (TopicID{3}) {
		t.Fatalf("state %+v", st)
	}
}

func frameEnds(t *testing.T, data []byte) []int {
	t.Helper()
	var ends []int
	n, err := Replay(data, func(Record) error { return nil })
	if err != nil || n != len(data) {
		t.Fatalf("replay: %d of %d, %v", n, len(data), err)
	}
	for pos := 0; pos < len(data); {
		_, size, err := decodeFrame(data[pos:])
		if err != nil {
			t.Fatal(err)
		}
		pos += size
		ends = append(ends, pos)
	}
	return ends
}

// TestCorruptMiddleRefused: a bad frame followed by valid ones is not a
// torn tail. Open refuses, naming the file, the position and herald
// repair, and leaves the file as it was.
func TestCorruptMiddleRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte, start int)
	}{
		{"flip payload", func(b []byte, start int) { b[start+12] ^= 0x01 }},
		{"flip crc", func(b []byte, start int) { b[start+5] ^= 0x80 }},
		{"huge length", func(b []byte, start int) { b[start] = 0x7f }},
		{"length past the end", func(b []byte, start int) { b[start+2] = 0x40 }},
		{"zero header", func(b []byte, start int) { copy(b[start:start+8], make([]byte, 8)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := threeTopics(t)
			path := filepath.Join(dir, FileName)
			data, _ := os.ReadFile(path)
			ends := frameEnds(t, data)
			start := ends[1] // the frame creating topic b
			tc.damage(data, start)
			os.WriteFile(path, data, 0o600)
			_, _, err := Open(vfs.Default, dir, quiet)
			if err == nil {
				t.Fatal("Open started on a log damaged in the middle")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not match ErrCorrupt: %v", err)
			}
			for _, want := range []string{path, fmt.Sprintf("byte %d", start), "herald repair " + dir} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
				t.Fatalf("Open changed the damaged file: %d bytes, was %d", len(after), len(data))
			}
		})
	}
}

// TestSnapshotCatchesLostTail: when the log lost frames the snapshot says
// were written (a truncation, or the last frame damaged), Open refuses
// instead of cutting acknowledged metadata as if it were torn.
func TestSnapshotCatchesLostTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"cut 3 bytes", func(b []byte) []byte { return b[:len(b)-3] }},
		{"cut to half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"empty", func(b []byte) []byte { return b[:0] }},
		{"flip last byte", func(b []byte) []byte { b[len(b)-1] ^= 0x10; return b }},
		{"zero the end", func(b []byte) []byte { copy(b[len(b)-20:], make([]byte, 20)); return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := threeTopics(t)
			path := filepath.Join(dir, FileName)
			data, _ := os.ReadFile(path)
			data = tc.damage(data)
			os.WriteFile(path, data, 0o600)
			_, _, err := Open(vfs.Default, dir, quiet)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open on a log that lost acknowledged frames: %v", err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
				t.Fatal("Open changed the damaged file")
			}
			rep, err := Repair(vfs.Default, dir, RepairOptions{Execute: true})
			if err != nil || !rep.Needed || !rep.Executed {
				t.Fatalf("repair: %v %+v", err, rep)
			}
			ml, st, err := Open(vfs.Default, dir, quiet)
			if err != nil {
				t.Fatal(err)
			}
			ml.Close()
			wantThree(t, st)
		})
	}
}

// TestTornAppendStillCut: a crash in the middle of an Append (a frame the
// snapshot does not cover) is still a torn tail, cut and logged.
func TestTornAppendStillCut(t *testing.T) {
	dir := threeTopics(t)
	path := filepath.Join(dir, FileName)
	frame, _ := AppendFrame(nil, Record{Type: CreateTopic, Topic: "d", ID: TopicID{4}, Partitions: 1})
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(frame[:len(frame)-5])
	f.Close()
	rep, err := Repair(vfs.Default, dir, RepairOptions{Execute: true})
	if err != nil || rep.Needed || !strings.Contains(strings.Join(rep.Findings, "\n"), fmt.Sprintf("last %d bytes", len(frame)-5)) {
		t.Fatalf("repair of a torn tail: %v %+v", err, rep)
	}
	var logBuf bytes.Buffer
	ml, st, err := Open(vfs.Default, dir, slogTo(&logBuf))
	if err != nil {
		t.Fatal(err)
	}
	ml.Close()
	wantThree(t, st)
	if !strings.Contains(logBuf.String(), "torn tail") || !strings.Contains(logBuf.String(), fmt.Sprintf("dropped_bytes=%d", len(frame)-5)) {
		t.Fatalf("cut not logged with its byte count: %s", logBuf.String())
	}
}

// TestMissingLogRefused: a data dir with partition directories or a
// snapshot but no metadata log does not start as an empty cluster.
func TestMissingLogRefused(t *testing.T) {
	t.Run("partition dirs", func(t *testing.T) {
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, "orders-0"), 0o700)
		os.WriteFile(filepath.Join(dir, "orders-0", "00000000000000000000.log"), []byte("x"), 0o600)
		_, _, err := Open(vfs.Default, dir, quiet)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "orders-0") || !strings.Contains(err.Error(), "herald repair") {
			t.Fatalf("Open: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, FileName)); !os.IsNotExist(err) {
			t.Fatalf("Open created a metadata log: %v", err)
		}
		// Repair adopts the directory as a topic.
		if _, err := Repair(vfs.Default, dir, RepairOptions{Execute: true}); err != nil {
			t.Fatal(err)
		}
		ml, st, err := Open(vfs.Default, dir, quiet)
		if err != nil {
			t.Fatal(err)
		}
		ml.Close()
		if st.Topics["orders"] == nil || st.Topics["orders"].Partitions != 1 {
			t.Fatalf("orders not adopted: %+v", st.Topics)
		}
	})
	t.Run("snapshot only", func(t *testing.T) {
		dir := threeTopics(t)
		os.Remove(filepath.Join(dir, FileName))
		if _, _, err := Open(vfs.Default, dir, quiet); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open: %v", err)
		}
		if _, err := Repair(vfs.Default, dir, RepairOptions{Execute: true}); err != nil {
			t.Fatal(err)
		}
		ml, st, err := Open(vfs.Default, dir, quiet)
		if err != nil {
			t.Fatal(err)
		}
		ml.Close()
		wantThree(t, st)
	})
}

// TestSnapshotDamageRewritten: a damaged or missing snapshot beside an
// intact log is logged and written again; nothing is lost.
func TestSnapshotDamageRewritten(t *testing.T) {
	dir := threeTopics(t)
	sp := filepath.Join(dir, SnapshotName)
	b, _ := os.ReadFile(sp)
	b[len(b)/2] ^= 0xff
	os.WriteFile(sp, b, 0o600)
	var logBuf bytes.Buffer
	ml, st, err := Open(vfs.Default, dir, slogTo(&logBuf))
	if err != nil {
		t.Fatal(err)
	}
	ml.Close()
	wantThree(t, st)
	if !strings.Contains(logBuf.String(), "snapshot is damaged") {
		t.Fatalf("not logged: %s", logBuf.String())
	}
	b, _ = os.ReadFile(sp)
	if s, err := decodeSnapshot(b); err != nil || !s.state().Equal(st) {
		t.Fatalf("snapshot not rewritten: %v", err)
	}
}

// TestRepair: without Execute nothing changes; with it the damaged log is
// kept aside and the rebuilt log has every topic, also those created after
// the snapshot was last written.
func TestRepair(t *testing.T) {
	dir := threeTopics(t)
	path := filepath.Join(dir, FileName)
	// A crash between an Append and the snapshot's rewrite: the log holds
	// one frame more than the snapshot covers.
	snap, _ := os.ReadFile(filepath.Join(dir, SnapshotName))
	ml, _, err := Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ml.Append(Record{Type: CreateTopic, Topic: "d", ID: TopicID{4}, Partitions: 4})
	ml.Close()
	os.WriteFile(filepath.Join(dir, SnapshotName), snap, 0o600)
	data, _ := os.ReadFile(path)
	data[frameEnds(t, data)[0]+10] ^= 0x04 // the create of a
	os.WriteFile(path, data, 0o600)

	rep, err := Repair(vfs.Default, dir, RepairOptions{})
	if err != nil || !rep.Needed || rep.Executed {
		t.Fatalf("dry run: %v %+v", err, rep)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Fatal("dry run changed the log")
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rep, err = Repair(vfs.Default, dir, RepairOptions{Execute: true, Now: func() time.Time { return now }})
	if err != nil || !rep.Executed {
		t.Fatalf("repair: %v %+v", err, rep)
	}
	if want := path + ".damaged-20260102T030405Z"; rep.MovedTo != want {
		t.Fatalf("moved to %q, want %q", rep.MovedTo, want)
	}
	if kept, _ := os.ReadFile(rep.MovedTo); !bytes.Equal(kept, data) {
		t.Fatal("the damaged log was not kept as it was")
	}
	ml, st, err := Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ml.Close()
	if st.Topics["d"] == nil || st.Topics["d"].Partitions != 4 {
		t.Fatalf("topic d (after the snapshot) lost: %+v", st.Topics)
	}
	delete(st.Topics, "d")
	wantThree(t, st)
	rep, err = Repair(vfs.Default, dir, RepairOptions{Execute: true})
	if err != nil || rep.Needed || rep.Executed {
		t.Fatalf("repair of a good log: %v %+v", err, rep)
	}
}

// TestRepairRespectsLock: repair refuses while a broker holds the dir.
func TestRepairRespectsLock(t *testing.T) {
	dir := threeTopics(t)
	lock, err := vfs.LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	_, err = Repair(vfs.Default, dir, RepairOptions{Execute: true})
	if !errors.Is(err, vfs.ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("repair under a held lock: %v", err)
	}
}

// TestFailedAppendUndone: an Append whose write or fsync fails is cut
// back out, so the change reported as failed does not reappear at the next
// Open, and the log stays usable.
func TestFailedAppendUndone(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpWrite, vfs.OpSync} {
		t.Run(op.String(), func(t *testing.T) {
			dir := threeTopics(t)
			ffs := vfs.NewFaultFS(vfs.Default)
			ffs.SetShortWrites(true)
			ml, _, err := Open(ffs, dir, quiet)
			if err != nil {
				t.Fatal(err)
			}
			ffs.FailAfter(op, 0, vfs.ErrNoSpace)
			if err := ml.Append(Record{Type: CreateTopic, Topic: "d", ID: TopicID{4}, Partitions: 1}); err == nil {
				t.Fatal("append did not fail")
			}
			ffs.Reset()
			// After a failed write the cut is synced and the log goes on;
			// after a failed fsync the undo's fsync failed too, so the log
			// refuses changes until restart.
			err = ml.Append(Record{Type: CreateTopic, Topic: "e", ID: TopicID{5}, Partitions: 1})
			if (err == nil) != (op == vfs.OpWrite) {
				t.Fatalf("append after the failure: %v", err)
			}
			ml.Close()
			ml, st, err := Open(vfs.Default, dir, quiet)
			if err != nil {
				t.Fatal(err)
			}
			ml.Close()
			if st.Topics["d"] != nil || (st.Topics["e"] == nil) != (op != vfs.OpWrite) {
				t.Fatalf("topics after a failed append: %v", st.Topics)
			}
		})
	}
}

// TestFilePerms: the metadata files are 0600 in a 0700 dir.
func TestFilePerms(t *testing.T) {
	dir := filepath.Join(threeTopics(t), "sub")
	ml, _, err := Open(vfs.Default, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ml.Close()
	for _, p := range []string{dir, filepath.Join(dir, FileName), filepath.Join(dir, SnapshotName)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v: readable by group or others", p, fi.Mode().Perm())
		}
	}
}

// TestRepairInterrupted: a repair that fails (or crashes) at any rename or
// fsync leaves a dir that a second repair brings back whole.
func TestRepairInterrupted(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpRename, vfs.OpSync, vfs.OpSyncDir, vfs.OpWrite} {
		for n := 0; ; n++ {
			dir := threeTopics(t)
			path := filepath.Join(dir, FileName)
			data, _ := os.ReadFile(path)
			data[frameEnds(t, data)[1]+9] ^= 0x01
			os.WriteFile(path, data, 0o600)
			ffs := vfs.NewFaultFS(vfs.Default)
			ffs.FailAfter(op, n, vfs.ErrIO)
			_, err := Repair(ffs, dir, RepairOptions{Execute: true})
			if err == nil {
				break
			}
			if _, err := Repair(vfs.Default, dir, RepairOptions{Execute: true}); err != nil {
				t.Fatalf("%v after %d: second repair: %v", op, n, err)
			}
			ml, st, err := Open(vfs.Default, dir, quiet)
			if err != nil {
				t.Fatalf("%v after %d: open after the second repair: %v", op, n, err)
			}
			ml.Close()
			wantThree(t, st)
		}
	}
}

// TestOpenWithoutRoomForSnapshot: a full disk that fails the snapshot's
// rewrite does not keep the log from opening, and the snapshot left is the
// old, whole one.
func TestOpenWithoutRoomForSnapshot(t *testing.T) {
	dir := threeTopics(t)
	ffs := vfs.NewFaultFS(vfs.Default)
	ffs.FailAfter(vfs.OpWrite, 0, vfs.ErrNoSpace)
	ml, st, err := Open(ffs, dir, quiet)
	if err != nil {
		t.Fatalf("open on a full disk: %v", err)
	}
	ml.Close()
	wantThree(t, st)
	b, _ := os.ReadFile(filepath.Join(dir, SnapshotName))
	if s, err := decodeSnapshot(b); err != nil || !s.state().Equal(st) {
		t.Fatalf("snapshot after the failed rewrite: %v", err)
	}
}

package broker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	hlog "github.com/heraldhq/herald/internal/log"
	"github.com/heraldhq/herald/internal/metadata"
	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/vfs"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv("HERALD_TEST_LOCK_CHILD"); dir != "" {
		lockChild(dir)
		return
	}
	if dir := os.Getenv("HERALD_TEST_CREATE_CHILD"); dir != "" {
		createChild(dir)
		return
	}
	os.Exit(m.Run())
}

// lockChild is the child process of TestDataDirLockTwoProcesses: it opens
// a broker on dir, says so, and holds it until stdin closes.
func lockChild(dir string) {
	b, err := Open(Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	b.Close()
	os.Exit(0)
}

// TestDataDirLock: a second Open of a dir in use fails, naming the pid,
// and succeeds once the first broker is closed.
func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	if _, err := b.CreateTopic("a", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Config{DataDir: dir, Logger: quietLogger()})
	if !errors.Is(err, vfs.ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second Open: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, dir)
	defer b.Close()
	if b.Topic("a") == nil {
		t.Fatal("topic lost")
	}
}

// TestDataDirLockTwoProcesses: a broker in another process keeps this one
// out, naming that process's pid; when it is killed, its lock goes with
// it.
func TestDataDirLockTwoProcesses(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HERALD_TEST_LOCK_CHILD="+dir)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	_, err = Open(Config{DataDir: dir, Logger: quietLogger()})
	if !errors.Is(err, vfs.ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		t.Fatalf("Open beside another process: %v", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	b := openTest(t, dir)
	b.Close()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// partitionDirsOf lists dir's directories that belong to topic.
func partitionDirsOf(t *testing.T, dir, topic string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if name, _, ok := metadata.ParsePartitionDir(e.Name()); ok && name == topic {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestCreateTopicAtomic fails every filesystem operation kind at every
// position of a three-partition create: the create fails with
// KAFKA_STORAGE_ERROR, leaves no directory and no metadata behind, and the
// reopened broker neither lacks the topics it had nor shows the failed one.
func TestCreateTopicAtomic(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpOpen, vfs.OpWrite, vfs.OpSync, vfs.OpSyncDir, vfs.OpTruncate} {
		for n := 0; ; n++ {
			dir := t.TempDir()
			ffs := vfs.NewFaultFS(vfs.Default)
			b, err := Open(Config{DataDir: dir, FS: ffs, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.CreateTopic("keep", 1, nil, false); err != nil {
				t.Fatal(err)
			}
			ffs.FailAfter(op, n, vfs.ErrIO)
			_, err = b.CreateTopic("t", 3, map[string]string{"retention.ms": "-1"}, false)
			ffs.Reset()
			created := err == nil
			if !created {
				if !errors.Is(err, kerr.KafkaStorageError) {
					t.Fatalf("%v after %d: error %v, want KAFKA_STORAGE_ERROR", op, n, err)
				}
				if b.Topic("t") != nil {
					t.Fatalf("%v after %d: failed topic is visible", op, n)
				}
				if d := partitionDirsOf(t, dir, "t"); len(d) != 0 {
					t.Fatalf("%v after %d: failed create left %v", op, n, d)
				}
			}
			b.Close()
			b = openTest(t, dir)
			if b.Topic("keep") == nil || (b.Topic("t") != nil) != created {
				t.Fatalf("%v after %d (created %v): reopened with keep=%v t=%v", op, n, created, b.Topic("keep") != nil, b.Topic("t") != nil)
			}
			if !created {
				if _, err := b.CreateTopic("t", 3, nil, false); err != nil {
					t.Fatalf("%v after %d: create after the failure: %v", op, n, err)
				}
			}
			b.Close()
			if created {
				break
			}
			if n > 200 {
				t.Fatalf("%v: create still fails after %d operations", op, n)
			}
		}
	}
}

// TestCreatePartitionsAtomic: the same for adding partitions.
func TestCreatePartitionsAtomic(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpOpen, vfs.OpWrite, vfs.OpSync, vfs.OpSyncDir} {
		for n := 0; ; n++ {
			dir := t.TempDir()
			ffs := vfs.NewFaultFS(vfs.Default)
			b, err := Open(Config{DataDir: dir, FS: ffs, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			tp, err := b.CreateTopic("t", 2, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			ffs.FailAfter(op, n, vfs.ErrIO)
			err = b.CreatePartitions(tp, 5, false)
			ffs.Reset()
			want := 5
			if err != nil {
				want = 2
				if !errors.Is(err, kerr.KafkaStorageError) {
					t.Fatalf("%v after %d: error %v", op, n, err)
				}
				if got := len(tp.Partitions()); got != 2 {
					t.Fatalf("%v after %d: %d partitions visible", op, n, got)
				}
				if d := partitionDirsOf(t, dir, "t"); len(d) != 2 {
					t.Fatalf("%v after %d: dirs %v", op, n, d)
				}
			}
			b.Close()
			b = openTest(t, dir)
			if got := len(b.Topic("t").Partitions()); got != want {
				t.Fatalf("%v after %d: reopened with %d partitions, want %d", op, n, got, want)
			}
			b.Close()
			if want == 5 {
				break
			}
		}
	}
}

// TestCrashMidCreate sets up the states a crash in the middle of a create
// leaves (partition directories made, the metadata record torn or never
// written): the broker restarts without the topic and a new create of the
// name works, with nothing of another topic's data wiped.
func TestCrashMidCreate(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	b.Close()
	// Crash 1: the partitions of "t" exist, empty, and half of its
	// metadata frame made it to disk.
	for i := range 2 {
		p := filepath.Join(dir, fmt.Sprintf("t-%d", i))
		os.Mkdir(p, 0o700)
		os.WriteFile(filepath.Join(p, "00000000000000000000.log"), nil, 0o600)
	}
	frame, _ := metadata.AppendFrame(nil, metadata.Record{Type: metadata.CreateTopic, Topic: "t", ID: metadata.TopicID{1}, Partitions: 2})
	f, _ := os.OpenFile(filepath.Join(dir, metadata.FileName), os.O_APPEND|os.O_WRONLY, 0)
	f.Write(frame[:len(frame)/2])
	f.Close()
	b = openTest(t, dir)
	if b.Topic("t") != nil {
		t.Fatal("half-created topic is visible")
	}
	if _, err := b.CreateTopic("t", 2, nil, false); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = openTest(t, dir)
	defer b.Close()
	if tp := b.Topic("t"); tp == nil || len(tp.Partitions()) != 2 {
		t.Fatal("topic t after the re-create")
	}
}

// TestFreshPartitionNeverWipesData: a directory with records but no
// topic (a delete that crashed before removing it, or lost metadata) is
// moved aside by a new create of the same name, never deleted.
func TestFreshPartitionNeverWipesData(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	u, err := b.CreateTopic("u", 1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	batch := records.BuildBatch(records.BatchSpec{BaseTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		records.Record{Key: []byte("k"), Value: []byte("precious")})
	if _, err := u.Partition(0).Append(batch, time.Now(), AckAll); err != nil {
		t.Fatal(err)
	}
	b.Close()
	// The crashed delete: the record says deleted, the data is still there.
	saved := filepath.Join(t.TempDir(), "u-0")
	os.Mkdir(saved, 0o700)
	ents, _ := os.ReadDir(filepath.Join(dir, "u-0"))
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, "u-0", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(saved, e.Name()), data, 0o600)
	}
	b = openTest(t, dir)
	if err := b.DeleteTopic(b.Topic("u")); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := os.Rename(saved, filepath.Join(dir, "u-0")); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, dir)
	defer b.Close()
	nu, err := b.CreateTopic("u", 1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if hw := nu.Partition(0).log.HighWatermark(); hw != 0 {
		t.Fatalf("new topic starts at offset %d", hw)
	}
	ents, _ = os.ReadDir(dir)
	found := false
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "u-0.orphaned.") {
			data, err := os.ReadFile(filepath.Join(dir, e.Name(), "00000000000000000000.log"))
			found = err == nil && strings.Contains(string(data), "precious")
		}
	}
	if !found {
		t.Fatal("the old partition's data was not kept aside")
	}
}

// TestBrokerFilePerms: the data dir, the lock and the metadata files are
// private to the broker's user.
func TestBrokerFilePerms(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	b := openTest(t, dir)
	b.CreateTopic("a", 1, nil, false)
	b.Close()
	for _, p := range []string{dir, filepath.Join(dir, vfs.LockName), filepath.Join(dir, metadata.FileName), filepath.Join(dir, metadata.SnapshotName),
		filepath.Join(dir, "a-0"), filepath.Join(dir, "a-0", "00000000000000000000.log")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v", p, fi.Mode().Perm())
		}
	}
}

// createChild is the child of TestSIGKILLMidCreate: it creates topics
// c0, c1, … (those that do not exist yet) with 8 partitions each, printing each name once its create
// returned, until it is killed.
func createChild(dir string) {
	b, err := Open(Config{DataDir: dir, Logger: quietLogger()})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		name := fmt.Sprintf("c%d", i)
		if b.Topic(name) != nil {
			continue // made by an earlier, killed child
		}
		if _, err := b.CreateTopic(name, 8, nil, false); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(name)
	}
}

// TestSIGKILLMidCreate kills a process that creates topics as fast as it
// can, at several moments: the restarted broker has every topic whose
// create returned, each with all its partitions, no topic it did not
// report except possibly the one in flight (whole), and it can create the
// next name.
func TestSIGKILLMidCreate(t *testing.T) {
	dir := t.TempDir()
	created := map[string]bool{}
	for round := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "HERALD_TEST_CREATE_CHILD="+dir)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(stdout)
		// Let it create a few topics (a different number each round),
		// then kill it in the middle of the next.
		for range 2 + round {
			line, err := rd.ReadString('\n')
			if err != nil || strings.HasPrefix(line, "error") {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child: %q %v", line, err)
			}
			created[strings.TrimSpace(line)] = true
		}
		cmd.Process.Kill()
		rest, _ := io.ReadAll(rd) // creates acknowledged before the kill landed
		for _, name := range strings.Fields(string(rest)) {
			created[name] = true
		}
		cmd.Wait()

		b := openTest(t, dir)
		for name := range created {
			tp := b.Topic(name)
			if tp == nil || len(tp.Partitions()) != 8 {
				t.Fatalf("round %d: acknowledged topic %s after restart: %v", round, name, tp)
			}
		}
		for _, tp := range b.Topics() {
			if !created[tp.Name] {
				// The create in flight made it to disk before the kill:
				// whole, or not at all.
				if len(tp.Partitions()) != 8 {
					t.Fatalf("round %d: in-flight topic %s has %d partitions", round, tp.Name, len(tp.Partitions()))
				}
				created[tp.Name] = true
			}
		}
		b.Close()
	}
}

// TestFreshPartitionMoveAsideFails: when the directory in the way cannot
// be moved aside, the create fails and the directory keeps its data.
func TestFreshPartitionMoveAsideFails(t *testing.T) {
	dir := t.TempDir()
	ffs := vfs.NewFaultFS(vfs.Default)
	b, err := Open(Config{DataDir: dir, FS: ffs, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p := filepath.Join(dir, "u-0")
	os.Mkdir(p, 0o700)
	os.WriteFile(filepath.Join(p, "00000000000000000000.log"), []byte("precious"), 0o600)
	ffs.FailAfter(vfs.OpRename, 0, vfs.ErrIO)
	if _, err := b.CreateTopic("u", 1, nil, false); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("create: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(p, "00000000000000000000.log")); err != nil || string(data) != "precious" {
		t.Fatalf("data in the way: %q %v", data, err)
	}
}

// TestMissingPartitionDirRefused: a topic whose partition directory is
// gone does not come back as an empty partition that hands out its offsets
// again; Open refuses, naming the directory.
func TestMissingPartitionDirRefused(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	if _, err := b.CreateTopic("a", 2, nil, false); err != nil {
		t.Fatal(err)
	}
	b.Close()
	p := filepath.Join(dir, "a-1")
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Config{DataDir: dir, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Open with a partition dir missing: %v", err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("Open created the missing dir")
	}
	// The lock was released by the failed Open; the operator's way out
	// works.
	os.Mkdir(p, 0o700)
	b = openTest(t, dir)
	b.Close()
}

// TestStaleEmptyPartitionRemoved: a partition directory a clean close left
// with no record (an empty first segment, its indexes and a log end
// checkpoint of 0) is removed by a new create, not moved aside; one whose
// checkpoint says records were written is moved aside.
func TestStaleEmptyPartitionRemoved(t *testing.T) {
	for _, tc := range []struct {
		name       string
		records    int
		movedAside bool
	}{{"empty", 0, false}, {"had records", 3, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			openTest(t, dir).Close() // a data dir with metadata, no topic
			l, err := hlog.Open(filepath.Join(dir, "s-0"), hlog.DefaultConfig(), hlog.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tc.records; i++ {
				batch := records.BuildBatch(records.BatchSpec{BaseTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
					records.Record{Value: []byte("v")})
				if _, err := l.Append(batch); err != nil {
					t.Fatal(err)
				}
			}
			if tc.records > 0 {
				// Records gone, checkpoint left: the segment was
				// emptied behind the broker's back.
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(filepath.Join(dir, "s-0", "00000000000000000000.log"), 0); err != nil {
					t.Fatal(err)
				}
			} else if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "s-0", "log-end-offset")); err != nil {
				t.Fatalf("no log end checkpoint after a clean close: %v", err)
			}
			b := openTest(t, dir)
			defer b.Close()
			if _, err := b.CreateTopic("s", 1, nil, false); err != nil {
				t.Fatal(err)
			}
			aside, _ := filepath.Glob(filepath.Join(dir, "s-0.orphaned.*"))
			if got := len(aside) > 0; got != tc.movedAside {
				t.Fatalf("moved aside = %v (%v), want %v", got, aside, tc.movedAside)
			}
		})
	}
}

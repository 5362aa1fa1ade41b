package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func init() {
	if dir := os.Getenv("HERALD_TEST_RLIMIT_CHILD"); dir != "" {
		rlimitChild(dir)
	}
}

// rlimitChild creates a topic with more partitions than its lowered
// RLIMIT_NOFILE allows open files, and reports the outcome.
func rlimitChild(dir string) {
	lim := syscall.Rlimit{Cur: 128, Max: 128}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Println("setrlimit:", err)
		os.Exit(1)
	}
	// A descriptor cache larger than the limit: the create runs out.
	b, err := Open(Config{DataDir: dir, Logger: quietLogger(), MaxOpenFiles: 100000})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	_, err = b.CreateTopic("big", 1000, nil, false)
	switch {
	case err == nil:
		fmt.Println("created")
	case errors.Is(err, kerr.KafkaStorageError) && errors.Is(err, syscall.EMFILE) || strings.Contains(err.Error(), "too many open files"):
		fmt.Println("storage error:", b.Topic("big") == nil)
	default:
		fmt.Println("other error:", err)
	}
	b.Close()
	os.Exit(0)
}

// TestCreateTopicTooManyOpenFiles: a create that runs out of file
// descriptors half-way (a real, lowered RLIMIT_NOFILE in a child process)
// fails with KAFKA_STORAGE_ERROR and leaves no topic and no directory; the
// broker restarts.
func TestCreateTopicTooManyOpenFiles(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	if _, err := b.CreateTopic("keep", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	b.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HERALD_TEST_RLIMIT_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "storage error: true" {
		t.Fatalf("child: %v: %s", err, out)
	}
	if d := partitionDirsOf(t, dir, "big"); len(d) != 0 {
		t.Fatalf("failed create left %d directories, e.g. %s", len(d), d[0])
	}
	b = openTest(t, dir)
	defer b.Close()
	if b.Topic("big") != nil || b.Topic("keep") == nil {
		t.Fatal("wrong topics after restart")
	}
}

// TestRaiseFileLimit: in a child process whose soft RLIMIT_NOFILE is below
// its hard limit, RaiseFileLimit raises the soft limit to the hard one and
// logs both, with the soft limit it found.
func TestRaiseFileLimit(t *testing.T) {
	if os.Getenv("HERALD_TEST_RAISE_CHILD") != "" {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 512, Max: 1000}); err != nil {
			t.Fatal(err)
		}
		var buf strings.Builder
		RaiseFileLimit(slog.New(slog.NewTextHandler(&buf, nil)))
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("limit now %d/%d\n%s", lim.Cur, lim.Max, buf.String())
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRaiseFileLimit$")
	cmd.Env = append(os.Environ(), "HERALD_TEST_RAISE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, want := range []string{"limit now 1000/1000", "soft_before=512 soft=1000 hard=1000", "RLIMIT_NOFILE"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("child output lacks %q:\n%s", want, out)
		}
	}
}

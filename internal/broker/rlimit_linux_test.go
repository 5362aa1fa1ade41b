package broker

import (
	"errors"
	"fmt"
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
	b, err := Open(Config{DataDir: dir, Logger: quietLogger()})
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

package txn_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/heraldtest"
)

const killChildEnv = "HERALD_TEST_TXN_KILL_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		killChild(dir)
		return
	}
	os.Exit(m.Run())
}

// killChild is the broker of TestKillCommitted: it serves dir, prints its
// address and runs until it is killed.
func killChild(dir string) {
	b, err := heraldtest.Start(heraldtest.WithDataDir(dir), heraldtest.WithTopics(2, "kill"),
		heraldtest.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("addr", b.Addr())
	select {}
}

// TestKillCommitted SIGKILLs a broker process as soon as EndTxn
// acknowledged a commit (its markers' fsyncs and Complete record may be
// in flight), while another producer's transaction is open: after a restart on
// the same data dir every acknowledged commit is visible to
// read_committed exactly once, and the open transaction's records never
// are.
func TestKillCommitted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "addr ") {
		t.Fatalf("child: %q %v", line, err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "addr "))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	newTxnClient := func(id string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(id), kgo.DefaultProduceTopic("kill"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	// Acknowledged records of a transaction that never ends.
	open := newTxnClient("o")
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	const txns, per = 5, 20
	for j := range per {
		if err := open.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("open-%d", j))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Committed transactions; the kill comes as soon as the last commit
	// is acknowledged.
	cl := newTxnClient("k")
	for i := range txns {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := range per {
			if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("c%d-%d", i, j))).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true

	b := newBroker(t, heraldtest.WithDataDir(dir))
	// A new producer of the id fences the dead one and aborts its
	// transaction, so the last stable offsets reach the ends.
	fence := newClient(t, b, kgo.TransactionalID("o"), kgo.DefaultProduceTopic("kill"))
	if err := fence.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := fence.ProduceSync(ctx, kgo.StringRecord("fence")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := fence.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	got := values(readAll(t, b, "kill", true))
	if d := dups(got); len(d) > 0 {
		t.Fatalf("duplicates after the kill: %v", d)
	}
	for i := range txns {
		for j := range per {
			if got[fmt.Sprintf("c%d-%d", i, j)] != 1 {
				t.Fatalf("acknowledged commit %d lost record %d after the kill (read %d records)", i, j, len(got))
			}
		}
	}
	if len(got) != txns*per {
		t.Fatalf("read_committed sees %d records, want %d (the open transaction's must not show)", len(got), txns*per)
	}
}

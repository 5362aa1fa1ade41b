package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"

	"github.com/heraldhq/herald/heraldtest"
)

// verifyDataDir runs a broker, produces to a topic of small segments
// through franz-go, and stops it, leaving a data dir to verify.
func verifyDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	b := heraldtest.NewBroker(t, heraldtest.WithDataDir(dir))
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seg := "2048"
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, map[string]*string{"segment.bytes": &seg}, "orders"); err != nil {
		t.Fatal(err)
	}
	for i := range 160 {
		r := &kgo.Record{Topic: "orders", Partition: int32(i % 2), Value: []byte(fmt.Sprintf("order-%d-%s", i, strings.Repeat("o", 60)))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	return dir
}

func dirSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	sums := map[string][32]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			sums[p] = sha256.Sum256(b)
		}
		return nil
	})
	return sums
}

func runVerifyCmd(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"verify"}, args...))
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func TestVerifyCommand(t *testing.T) {
	dir := verifyDataDir(t)
	out, _, err := runVerifyCmd(dir)
	if err != nil || !strings.Contains(out, "checked ") || !strings.Contains(out, ": 0 damaged ranges") {
		t.Fatalf("clean data dir: %v\n%s", err, out)
	}

	// Damage a closed segment of orders-1 in the middle of a batch.
	pdir := filepath.Join(dir, "orders-1")
	logs, _ := filepath.Glob(filepath.Join(pdir, "*.log"))
	if len(logs) < 3 {
		t.Fatalf("want several segments, have %v", logs)
	}
	victim := logs[1]
	data, _ := os.ReadFile(victim)
	data[len(data)/2] ^= 0x08
	os.WriteFile(victim, data, 0o600)
	before := dirSums(t, dir)

	out, _, err = runVerifyCmd(dir)
	if !errors.Is(err, errDamageFound) {
		t.Fatalf("damaged data dir: err %v, want errDamageFound\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var report []string
	for _, l := range lines {
		if strings.HasPrefix(l, "orders-1: "+victim) {
			report = append(report, l)
		}
	}
	if len(report) != 1 || !strings.Contains(report[0], "offsets ") || !strings.Contains(report[0], "CRC mismatch") {
		t.Fatalf("want one report line for %s with its offsets, got:\n%s", victim, out)
	}
	if !strings.Contains(out, ": 1 damaged ranges") {
		t.Fatalf("summary: %s", out)
	}
	if after := dirSums(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("verify changed the data dir")
	}

	// A broker holding the data dir's lock: refused, unless --force.
	lock, err := os.OpenFile(filepath.Join(dir, "herald.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runVerifyCmd(dir); err == nil || !strings.Contains(err.Error(), "a broker holds") {
		t.Fatalf("locked data dir: %v, want a refusal", err)
	}
	if _, errOut, err := runVerifyCmd("--force", dir); !errors.Is(err, errDamageFound) || !strings.Contains(errOut, "warning: a broker holds") {
		t.Fatalf("--force: %v, stderr %q", err, errOut)
	}
}

package kafka

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPartitionsOverFileLimit: in a child process whose RLIMIT_NOFILE is
// 1,024 (soft and hard), a topic of 1,200 partitions is created with a
// real client, one record is produced to every partition and all of them
// are consumed back. Each partition's segment file is a descriptor, so
// this needs the descriptor cache.
func TestPartitionsOverFileLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1,200 partitions")
	}
	if os.Getenv("HERALD_TEST_NOFILE_CHILD") != "" {
		partitionsOverFileLimitChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPartitionsOverFileLimit$", "-test.v")
	cmd.Env = append(os.Environ(), "HERALD_TEST_NOFILE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1200 partitions produced and consumed") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func partitionsOverFileLimitChild(t *testing.T) {
	const parts = 1200
	lim := syscall.Rlimit{Cur: 1024, Max: 1024}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ts.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ConsumePartitions(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(120_000)
	resp, err := adm.CreateTopic(ctx, parts, 1, nil, "wide")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	var recs []*kgo.Record
	for p := range int32(parts) {
		recs = append(recs, &kgo.Record{Topic: "wide", Partition: p, Value: []byte(fmt.Sprint(p))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	offsets := map[string]map[int32]kgo.Offset{"wide": {}}
	for p := range int32(parts) {
		offsets["wide"][p] = kgo.NewOffset().AtStart()
	}
	cl.AddConsumePartitions(offsets)
	seen := map[int32]bool{}
	for len(seen) < parts {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d partitions: %v", len(seen), parts, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Errorf("fetch %s-%d: %v", topic, p, err) })
		if t.Failed() {
			t.FailNow()
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) != fmt.Sprint(r.Partition) {
				t.Fatalf("partition %d holds %q", r.Partition, r.Value)
			}
			seen[r.Partition] = true
		})
	}
	st := ts.b.FileStats()
	if st.Open > st.Max {
		t.Fatalf("%d segment files open, over the cache's %d", st.Open, st.Max)
	}
	t.Logf("%d partitions produced and consumed; segment files: %+v", parts, st)
}

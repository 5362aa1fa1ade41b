//go:build linux

package kafka_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/heraldtestutil"
	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/testenv"
)

// mountTmpfs mounts a tmpfs of size bytes on a new temp dir, unmounted at
// cleanup (after anything registered later, such as a broker, is closed).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: the disk-full test mounts a small tmpfs, which needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("skipped: cannot mount a tmpfs on %s (%v); the disk-full test needs one", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillUp writes a file in dir until the filesystem is full.
func fillUp(t *testing.T, name string) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	if f == nil {
		return
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestDiskFull runs a real broker on a 16 MiB tmpfs and fills it with
// franz-go: produce answers KAFKA_STORAGE_ERROR (without server paths,
// logged once), an offset commit answers NOT_COORDINATOR, every
// acknowledged record stays readable, and once space is freed produce and
// commit work again without a restart; after a restart every acknowledged
// record and the committed offsets are still there.
func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "16m")
	// Space to give back later: 4 MiB taken before the broker fills the rest.
	if err := os.WriteFile(filepath.Join(dir, "reserve"), make([]byte, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	logs := &testenv.Buffer{}
	b := heraldtest.NewBroker(t, heraldtest.WithDataDir(data), heraldtestutil.WithConfig(func(c *server.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(1), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 4, -1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	commitOffs := func(at int64) kadm.Offsets {
		offs := kadm.Offsets{}
		for p := int32(0); p < 4; p++ {
			offs.Add(kadm.Offset{Topic: "orders", Partition: p, At: at, LeaderEpoch: -1})
		}
		return offs
	}
	if err := adm.CommitAllOffsets(ctx, "g", commitOffs(1)); err != nil {
		t.Fatal(err)
	}

	var acked []string
	// Random bytes: a full disk is not to be compressed away.
	pad := make([]byte, 64<<10)
	rand.Read(pad)
	value := func(i int) []byte { return append([]byte(fmt.Sprintf("rec-%06d-", i)), pad...) }
	produce := func(i int) error {
		return cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: 0, Value: value(i)}).FirstErr()
	}
	var perr error
	for i := 0; perr == nil; i++ {
		if i > 1000 {
			t.Fatal("64 MiB produced to a 16 MiB tmpfs without an error")
		}
		if perr = produce(i); perr == nil {
			acked = append(acked, string(value(i)[:11]))
		}
	}
	if !errors.Is(perr, kerr.KafkaStorageError) {
		t.Fatalf("produce on a full disk: %v, want KAFKA_STORAGE_ERROR", perr)
	}
	// What little space is left (a partial batch was undone) goes too.
	fillUp(t, filepath.Join(dir, "filler"))

	// The raw answer: the code, and a message without the server's paths.
	tds, err := adm.ListTopics(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = "orders", tds["orders"].ID // by id from v13
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records.BuildBatch(records.BatchSpec{BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1,
		BaseSequence: -1}, records.Record{Value: pad})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	presp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	pp := presp.Topics[0].Partitions[0]
	if pp.ErrorCode != kerr.KafkaStorageError.Code || pp.ErrorMessage == nil || strings.Contains(*pp.ErrorMessage, dir) {
		t.Fatalf("raw produce on a full disk: %v %v; want KAFKA_STORAGE_ERROR with a message without %s",
			kerr.ErrorForCode(pp.ErrorCode), pp.ErrorMessage, dir)
	}

	// A commit on the full disk: NOT_COORDINATOR (Kafka's answer to a
	// storage error), sent to the broker directly so the client does not
	// retry it. The metadata makes the batch larger than any page slack.
	creq := kmsg.NewPtrOffsetCommitRequest()
	creq.Group, creq.Generation = "g", -1
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "orders"
	for p := int32(0); p < 4; p++ {
		cp := kmsg.NewOffsetCommitRequestTopicPartition()
		cp.Partition, cp.Offset, cp.Metadata = p, 2, kmsg.StringPtr(strings.Repeat("m", 4000))
		ct.Partitions = append(ct.Partitions, cp)
	}
	creq.Topics = append(creq.Topics, ct)
	brokers := cl.DiscoveredBrokers()
	if len(brokers) == 0 {
		t.Fatal("no broker discovered")
	}
	cresp, err := creq.RequestWith(ctx, brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cresp.Topics[0].Partitions {
		if p.ErrorCode != kerr.NotCoordinator.Code {
			t.Fatalf("commit on a full disk: partition %d %v, want NOT_COORDINATOR", p.Partition, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	if n := logs.Lines("partition storage error", "topic=orders", "partition=0"); n != 1 {
		t.Fatalf("%d storage error log lines for orders-0, want 1:\n%s", n, logs.String())
	}
	if n := logs.Lines("partition storage error", "free_bytes="); n < 1 {
		t.Fatalf("no storage error log line gives the free space:\n%s", logs.String())
	}

	checkAcked := func(when string) {
		t.Helper()
		rd, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"orders": {0: kgo.NewOffset().AtStart()}}))
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		var got []string
		for len(got) < len(acked) {
			fs := rd.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("%s: read %d of %d acknowledged records: %v", when, len(got), len(acked), err)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("%s: fetch: %v", when, err) })
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value[:11])) })
		}
		for i := range acked {
			if got[i] != acked[i] {
				t.Fatalf("%s: record %d is %q, want %q", when, i, got[i], acked[i])
			}
		}
	}
	checkAcked("on the full disk")

	// Space returns: produce and commit work again, without a restart.
	for _, f := range []string{"reserve", "filler"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		i := len(acked)
		if err := produce(i); err != nil {
			t.Fatalf("produce after space returned: %v", err)
		}
		acked = append(acked, string(value(i)[:11]))
	}
	if err := adm.CommitAllOffsets(ctx, "g", commitOffs(3)); err != nil {
		t.Fatalf("commit after space returned: %v", err)
	}
	if n := logs.Lines("partition storage recovered", "topic=orders", "partition=0"); n != 1 {
		t.Fatalf("%d recovery log lines for orders-0, want 1:\n%s", n, logs.String())
	}
	checkAcked("after space returned")

	cl.Close()
	b.Restart()
	cl, err = kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm = kadm.NewClient(cl)
	checkAcked("after restart")
	fetched, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 4; p++ {
		if o, ok := fetched.Lookup("orders", p); !ok || o.Err != nil || o.At != 3 {
			t.Fatalf("after restart committed offset of orders-%d = %+v, want 3", p, o)
		}
	}
}

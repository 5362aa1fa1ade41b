package kafka

import (
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/group"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/txn"
	"github.com/heraldhq/herald/internal/vfs"
)

// startFaultServer is startServer on a FaultFS, with a group coordinator
// and a logger writing to logs.
func startFaultServer(t *testing.T, fs vfs.FS, logs *testenv.Buffer) (*testServer, string) {
	t.Helper()
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(logs, nil))
	b, err := broker.Open(broker.Config{DataDir: dir, Durability: "always", FS: fs, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	co, err := group.OpenCoordinator(group.CoordinatorConfig{Broker: b, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	pm := txn.NewManager(txn.ManagerConfig{Logger: logger})
	tc, err := txn.Open(txn.Config{Broker: b, Groups: co, Producers: pm, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.SetProducerState(pm)
	s := New(Config{Broker: b, Groups: co, Txn: tc, Logger: logger, AdvertisedHost: "127.0.0.1",
		AdvertisedPort: int32(ln.Addr().(*net.TCPAddr).Port)})
	go s.Serve(ln)
	t.Cleanup(func() {
		s.Close()
		tc.Close()
		co.Close()
		b.Close()
	})
	return &testServer{s: s, b: b, addr: ln.Addr().String()}, dir
}

func produceAnswer(t *testing.T, c *client, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	resp := c.roundTrip(produceReq(9, topic, 0, batch)).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0]
}

// TestProduceOnFullDisk: a write that fails with ENOSPC answers
// KAFKA_STORAGE_ERROR with a message that names the cause and not the
// server's paths, logs once for the partition however many requests
// fail, appends nothing, and the partition takes writes again, logging
// its recovery once, when space returns.
func TestProduceOnFullDisk(t *testing.T) {
	fs := vfs.NewFaultFS(vfs.Default)
	logs := &testenv.Buffer{}
	ts, dir := startFaultServer(t, fs, logs)
	c := ts.dial(t)
	createTopic(t, c, "t", 1, nil)
	if p := produceAnswer(t, c, "t", makeBatch(2, 10, 1)); p.ErrorCode != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(p.ErrorCode))
	}

	fs.FailAfter(vfs.OpWrite, 0, vfs.ErrNoSpace)
	for i := 0; i < 3; i++ {
		p := produceAnswer(t, c, "t", makeBatch(2, 10, 1))
		if p.ErrorCode != kerr.KafkaStorageError.Code {
			t.Fatalf("produce on a full disk: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(p.ErrorCode))
		}
		if p.ErrorMessage == nil || !strings.Contains(*p.ErrorMessage, "no space left") || strings.Contains(*p.ErrorMessage, dir) {
			t.Fatalf("error message %v: want the cause, without the data dir %s", p.ErrorMessage, dir)
		}
	}
	part := ts.b.Topic("t").Partition(0)
	if n := logs.Count("partition storage error"); n != 1 {
		t.Fatalf("%d storage error log lines for 3 failed produces, want 1:\n%s", n, logs.String())
	}
	if logs.Count("free_bytes=") != 1 {
		t.Fatalf("the storage error log line does not give the free space:\n%s", logs.String())
	}
	if failing, n := part.StorageHealth(); !failing || n != 3 {
		t.Fatalf("StorageHealth = %v, %d; want true, 3", failing, n)
	}
	if leo := part.LogEndOffset(); leo != 2 {
		t.Fatalf("log end offset %d after refused appends, want 2", leo)
	}

	fs.Reset()
	p := produceAnswer(t, c, "t", makeBatch(2, 10, 1))
	if p.ErrorCode != 0 || p.BaseOffset != 2 {
		t.Fatalf("produce after space returned: %v at %d, want offset 2", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
	if n := logs.Count("partition storage recovered"); n != 1 {
		t.Fatalf("%d recovery log lines, want 1:\n%s", n, logs.String())
	}
	if failing, _ := part.StorageHealth(); failing {
		t.Fatal("StorageHealth still failing after a successful write")
	}
}

// TestProduceFsyncError: an fsync that fails answers acks=-1 with
// KAFKA_STORAGE_ERROR, without paths.
func TestProduceFsyncError(t *testing.T) {
	fs := vfs.NewFaultFS(vfs.Default)
	logs := &testenv.Buffer{}
	ts, dir := startFaultServer(t, fs, logs)
	c := ts.dial(t)
	createTopic(t, c, "t", 1, nil)
	fs.FailAfter(vfs.OpSync, 0, vfs.ErrIO)
	p := produceAnswer(t, c, "t", makeBatch(2, 10, 1))
	if p.ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("produce with a failing fsync: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(p.ErrorCode))
	}
	if p.ErrorMessage == nil || strings.Contains(*p.ErrorMessage, dir) {
		t.Fatalf("error message %v: want one without the data dir", p.ErrorMessage)
	}
	if n := logs.Count("partition storage error"); n != 1 {
		t.Fatalf("%d storage error log lines, want 1:\n%s", n, logs.String())
	}
}

// TestCommitOnFullDisk: an offset commit whose write fails with ENOSPC is
// NOT_COORDINATOR, as Kafka's coordinator answers a storage error, and
// the offset stays what it was; once space returns the commit succeeds.
func TestCommitOnFullDisk(t *testing.T) {
	fs := vfs.NewFaultFS(vfs.Default)
	logs := &testenv.Buffer{}
	ts, _ := startFaultServer(t, fs, logs)
	c := ts.dial(t)
	createTopic(t, c, "t", 1, nil)
	commit := func(offset int64) int16 {
		resp := c.roundTrip(commitReq("g", "t", offset)).(*kmsg.OffsetCommitResponse)
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := commit(1); code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
	fs.FailAfter(vfs.OpWrite, 0, vfs.ErrNoSpace)
	for i := 0; i < 2; i++ {
		if code := commit(5); code != kerr.NotCoordinator.Code {
			t.Fatalf("commit on a full disk: %v, want NOT_COORDINATOR", kerr.ErrorForCode(code))
		}
	}
	if n := logs.Count("partition storage error"); n != 1 {
		t.Fatalf("%d storage error log lines for 2 failed commits, want 1:\n%s", n, logs.String())
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.SetVersion(7)
	fetch.Group = "g"
	got := c.roundTrip(fetch).(*kmsg.OffsetFetchResponse)
	if o := got.Topics[0].Partitions[0].Offset; o != 1 {
		t.Fatalf("committed offset %d after failed commits, want 1", o)
	}
	fs.Reset()
	if code := commit(5); code != 0 {
		t.Fatalf("commit after space returned: %v", kerr.ErrorForCode(code))
	}
}

// TestCreateTopicOnFullDisk: a metadata write that fails answers
// KAFKA_STORAGE_ERROR with the cause, not UNKNOWN_SERVER_ERROR with a path.
func TestCreateTopicOnFullDisk(t *testing.T) {
	fs := vfs.NewFaultFS(vfs.Default)
	ts, dir := startFaultServer(t, fs, &testenv.Buffer{})
	c := ts.dial(t)
	fs.FailAfter(vfs.OpWrite, 0, vfs.ErrNoSpace)
	rt := createTopic(t, c, "t", 1, nil)
	if rt.ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("create topic on a full disk: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(rt.ErrorCode))
	}
	if rt.ErrorMessage == nil || !strings.Contains(*rt.ErrorMessage, "no space left") || strings.Contains(*rt.ErrorMessage, dir) {
		t.Fatalf("error message %v: want the cause without the data dir %s", rt.ErrorMessage, dir)
	}
	fs.Reset()
	if rt := createTopic(t, c, "t", 1, nil); rt.ErrorCode != 0 {
		t.Fatalf("create topic after space returned: %v", kerr.ErrorForCode(rt.ErrorCode))
	}
}

// TestTxnOffsetCommitOnFullDisk: a TxnOffsetCommit whose write fails with
// ENOSPC is NOT_COORDINATOR, as Kafka's coordinators answer a storage
// error; once space returns it succeeds.
func TestTxnOffsetCommitOnFullDisk(t *testing.T) {
	fs := vfs.NewFaultFS(vfs.Default)
	logs := &testenv.Buffer{}
	ts, _ := startFaultServer(t, fs, logs)
	c := ts.dial(t)
	createTopic(t, c, "t", 1, nil)

	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = kmsg.StringPtr("tx"), 60000
	ir := c.roundTrip(init).(*kmsg.InitProducerIDResponse)
	if ir.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(ir.ErrorCode))
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = "tx", ir.ProducerID, ir.ProducerEpoch, "g"
	if ar := c.roundTrip(add).(*kmsg.AddOffsetsToTxnResponse); ar.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %v", kerr.ErrorForCode(ar.ErrorCode))
	}
	commit := func() int16 {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = "tx", "g", ir.ProducerID, ir.ProducerEpoch
		req.Generation = -1
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Offset, rp.LeaderEpoch = 5, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return c.roundTrip(req).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	fs.FailAfter(vfs.OpWrite, 0, vfs.ErrNoSpace)
	for i := 0; i < 2; i++ {
		if code := commit(); code != kerr.NotCoordinator.Code {
			t.Fatalf("TxnOffsetCommit on a full disk: %v, want NOT_COORDINATOR", kerr.ErrorForCode(code))
		}
	}
	if n := logs.Count("partition storage error"); n != 1 {
		t.Fatalf("%d storage error log lines for 2 failed commits, want 1:\n%s", n, logs.String())
	}
	fs.Reset()
	if code := commit(); code != 0 {
		t.Fatalf("TxnOffsetCommit after space returned: %v", kerr.ErrorForCode(code))
	}
}

package kafka

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/vfs"
)

// TestCreateTopicsStorageFailure: a CreateTopics (and CreatePartitions)
// whose files fail half-way answers KAFKA_STORAGE_ERROR with a message,
// and the topic (or the partitions) does not exist afterwards, also after
// a restart; the same request succeeds once the disk is back.
func TestCreateTopicsStorageFailure(t *testing.T) {
	dir := t.TempDir()
	ffs := vfs.NewFaultFS(vfs.Default)
	start := func() (*broker.Broker, *kadm.Client) {
		b, err := broker.Open(broker.Config{DataDir: dir, FS: ffs, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := New(Config{Broker: b, Logger: quiet, AdvertisedHost: "127.0.0.1", AdvertisedPort: int32(ln.Addr().(*net.TCPAddr).Port)})
		go s.Serve(ln)
		cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close(); s.Close(); b.Close() })
		return b, kadm.NewClient(cl)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, adm := start()

	ffs.FailAfter(vfs.OpOpen, 4, vfs.ErrIO) // a partition or two open, then the disk fails
	resp, err := adm.CreateTopic(ctx, 5, 1, nil, "half")
	ffs.Reset()
	if !errors.Is(err, kerr.KafkaStorageError) || !strings.Contains(resp.ErrMessage, "nothing was created") {
		t.Fatalf("create: %v %q", err, resp.ErrMessage)
	}
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "grow"); err != nil {
		t.Fatal(err)
	}
	ffs.FailAfter(vfs.OpOpen, 1, vfs.ErrIO)
	cp, err := adm.CreatePartitions(ctx, 3, "grow") // 2 + 3
	ffs.Reset()
	if err != nil || !errors.Is(cp["grow"].Err, kerr.KafkaStorageError) {
		t.Fatalf("create partitions: %v %+v", err, cp)
	}
	check := func() {
		t.Helper()
		td, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if td.Has("half") || len(td["grow"].Partitions) != 2 {
			t.Fatalf("topics after the failures: half=%v grow=%d partitions", td.Has("half"), len(td["grow"].Partitions))
		}
	}
	check()
	b.Close()
	_, adm = start()
	check()
	if resp, err := adm.CreateTopic(ctx, 5, 1, nil, "half"); err != nil || resp.Err != nil {
		t.Fatalf("create once the disk is back: %v %v", err, resp.Err)
	}
}

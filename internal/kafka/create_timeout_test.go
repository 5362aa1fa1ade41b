package kafka

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/vfs"
)

// gateFS holds the creation of partition directories whose name starts
// with prefix until the gate opens, as a create of many partitions on a
// slow disk would.
type gateFS struct {
	vfs.FS
	prefix string
	held   atomic.Int32
	open   chan struct{}
}

func (fs *gateFS) MkdirAll(dir string, perm os.FileMode) error {
	if strings.HasPrefix(filepath.Base(dir), fs.prefix) {
		fs.held.Add(1)
		<-fs.open
	}
	return fs.FS.MkdirAll(dir, perm)
}

// TestCreateTopicsAnswersWithinTimeout: a create that is still opening its
// partitions when the request's timeout expires is answered
// REQUEST_TIMED_OUT; meanwhile another topic is created, and the first
// appears in Metadata, whole, once its partitions are open.
func TestCreateTopicsAnswersWithinTimeout(t *testing.T) {
	fs := &gateFS{FS: vfs.Default, prefix: "slow-", open: make(chan struct{})}
	_, adm, release := startGated(t, fs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := createErr(adm.CreateTopic(ctx, 8, 1, nil, "slow-topic")); !errors.Is(err, kerr.RequestTimedOut) {
		t.Fatalf("create still running when its timeout expired answered %v, want REQUEST_TIMED_OUT", err)
	}
	if fs.held.Load() == 0 {
		t.Fatal("the create did not reach its partitions")
	}
	// The slow create holds no lock that other creates need. (This one
	// gets time enough for a loaded machine: 200 ms is for the slow one.)
	adm.SetTimeoutMillis(10000)
	if err := createErr(adm.CreateTopic(ctx, 2, 1, nil, "quick")); err != nil {
		t.Fatalf("create while another runs: %v", err)
	}
	adm.SetTimeoutMillis(200)
	// A second create of the same name is refused while the first runs.
	if err := createErr(adm.CreateTopic(ctx, 8, 1, nil, "slow-topic")); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("second create of a name being created: %v", err)
	}
	md, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md.Topics.Has("slow-topic") || !md.Topics.Has("quick") {
		t.Fatalf("metadata during the slow create: %v", md.Topics.Names())
	}
	release()
	for {
		md, err := adm.Metadata(ctx) // all topics: asking for an unknown one makes kgo retry
		if err != nil {
			t.Fatal(err)
		}
		if td := md.Topics["slow-topic"]; td.Err == nil && len(td.Partitions) > 0 {
			if len(td.Partitions) != 8 {
				t.Fatalf("slow-topic appeared with %d partitions, want 8", len(td.Partitions))
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the timed-out create never completed")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// createErr is a kadm create's error: the request's, or the topic's.
func createErr(resp kadm.CreateTopicResponse, err error) error {
	if err != nil {
		return err
	}
	return resp.Err
}

// startGated runs a broker on fs and a server; release opens fs's gate
// (also at cleanup).
func startGated(t *testing.T, fs *gateFS) (*broker.Broker, *kadm.Client, func()) {
	b, err := broker.Open(broker.Config{DataDir: t.TempDir(), Logger: quiet, FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Broker: b, Logger: quiet, AdvertisedHost: "127.0.0.1", AdvertisedPort: int32(ln.Addr().(*net.TCPAddr).Port)})
	go s.Serve(ln)
	opened := false
	release := func() {
		if !opened {
			opened = true
			close(fs.open)
		}
	}
	t.Cleanup(func() {
		release()
		s.Close()
		b.Close()
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()), kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(200)
	return b, adm, release
}

// TestCreatePartitionsAnswersWithinTimeout: as for CreateTopics, an
// addition of partitions still running when the request's timeout expires
// is answered REQUEST_TIMED_OUT and completes in the background; a second
// addition meanwhile is REASSIGNMENT_IN_PROGRESS.
func TestCreatePartitionsAnswersWithinTimeout(t *testing.T) {
	fs := &gateFS{FS: vfs.Default, prefix: "grow-1", open: make(chan struct{})}
	b, adm, release := startGated(t, fs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := createErr(adm.CreateTopic(ctx, 1, 1, nil, "grow")); err != nil {
		t.Fatal(err)
	}
	if err := growErr(adm.CreatePartitions(ctx, 2, "grow")); !errors.Is(err, kerr.RequestTimedOut) {
		t.Fatalf("addition still running when its timeout expired answered %v, want REQUEST_TIMED_OUT", err)
	}
	if err := growErr(adm.CreatePartitions(ctx, 3, "grow")); !errors.Is(err, kerr.ReassignmentInProgress) {
		t.Fatalf("second addition while one runs answered %v, want REASSIGNMENT_IN_PROGRESS", err)
	}
	if n := len(b.Topic("grow").Partitions()); n != 1 {
		t.Fatalf("%d partitions before the addition is done", n)
	}
	release()
	for len(b.Topic("grow").Partitions()) != 3 {
		select {
		case <-ctx.Done():
			t.Fatal("the timed-out addition never completed")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func growErr(resp kadm.CreatePartitionsResponses, err error) error {
	if err != nil {
		return err
	}
	return resp.Error()
}

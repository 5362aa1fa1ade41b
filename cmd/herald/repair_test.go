package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/metadata"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/vfs"
)

// The cluster every repair test builds and then checks, through real
// Kafka clients: two topics with configs, records in every partition and
// a group's committed offsets.
var (
	wantTopics = map[string]int32{"orders": 3, "audit": 1}
	wantConfig = map[string][2]string{"orders": {"retention.ms", "-1"}, "audit": {"cleanup.policy", "compact"}}
)

const (
	recordsPerPartition = 5
	testGroup           = "billing"
)

func openServer(dir string, logTo io.Writer) (*server.Server, error) {
	cfg := server.DefaultConfig()
	cfg.DataDir, cfg.ListenAddr, cfg.AutoCreateTopics = dir, "127.0.0.1:0", true
	cfg.Logger = slog.New(slog.NewTextHandler(logTo, nil))
	srv, err := server.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		return nil, err
	}
	return srv, nil
}

func mustServer(t *testing.T, dir string) *server.Server {
	t.Helper()
	srv, err := openServer(dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func client(t *testing.T, srv *server.Server, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(srv.Addr().String())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// populate builds the test cluster in dir.
func populate(t *testing.T, dir string) {
	t.Helper()
	srv := mustServer(t, dir)
	defer srv.Close()
	ctx := testCtx(t)
	cl := client(t, srv, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	for name, n := range wantTopics {
		kv := wantConfig[name]
		if _, err := adm.CreateTopic(ctx, n, 1, map[string]*string{kv[0]: kadm.StringPtr(kv[1])}, name); err != nil {
			t.Fatal(err)
		}
		for p := range n {
			for i := range recordsPerPartition {
				r := &kgo.Record{Topic: name, Partition: p, Key: []byte("k"), Value: fmt.Appendf(nil, "%s-%d-%d", name, p, i)}
				if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "orders", Partition: 1, At: 3, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, testGroup, offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
}

// verify checks that every topic, config, record and committed offset of
// populate is there, and that a new record gets the next offset (none is
// reused).
func verify(t *testing.T, srv *server.Server) {
	t.Helper()
	ctx := testCtx(t)
	adm := kadm.NewClient(client(t, srv))
	names := make([]string, 0, len(wantTopics))
	for n := range wantTopics {
		names = append(names, n)
	}
	md, err := adm.Metadata(ctx, names...)
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range wantTopics {
		td, ok := md.Topics[name]
		if !ok || td.Err != nil || int32(len(td.Partitions)) != n {
			t.Fatalf("topic %s: %+v", name, td)
		}
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range rcs {
		kv := wantConfig[rc.Name]
		found := false
		for _, c := range rc.Configs {
			if c.Key == kv[0] && c.MaybeValue() == kv[1] {
				found = true
			}
		}
		if !found {
			t.Fatalf("topic %s lost config %s=%s", rc.Name, kv[0], kv[1])
		}
	}
	fo, err := adm.FetchOffsets(ctx, testGroup)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fo.Lookup("orders", 1); !ok || o.Err != nil || o.At != 3 {
		t.Fatalf("committed offset: %+v %v", o, ok)
	}
	total := 0
	for _, n := range wantTopics {
		total += int(n) * recordsPerPartition
	}
	cons := client(t, srv, kgo.ConsumeTopics(names...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < total {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", len(seen), total, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			want := fmt.Sprintf("%s-%d-%d", r.Topic, r.Partition, r.Offset)
			if string(r.Value) != want {
				t.Fatalf("record %s/%d@%d is %q, want %q", r.Topic, r.Partition, r.Offset, r.Value, want)
			}
			seen[want] = true
		})
	}
	pr := client(t, srv, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	res, err := pr.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: 2, Value: []byte("next")}).First()
	if err != nil || res.Offset != recordsPerPartition {
		t.Fatalf("next record: offset %v, %v; want %d", res, err, recordsPerPartition)
	}
}

func runCLI(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// TestRepairEndToEnd: a byte flipped in the middle of the metadata log
// makes `herald serve` refuse (naming the file, the byte and herald
// repair); `herald repair` reports and changes nothing; `herald repair
// --execute` keeps the damaged file aside and brings every topic, config,
// record and committed offset back.
func TestRepairEndToEnd(t *testing.T) {
	dir := t.TempDir()
	populate(t, dir)

	// While a broker runs, repair refuses, naming the pid.
	srv := mustServer(t, dir)
	if _, err := runCLI(t, testCtx(t), "repair", "--execute", dir); !errors.Is(err, vfs.ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("repair beside a running broker: %v", err)
	}
	srv.Close()

	path := filepath.Join(dir, metadata.FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x20
	os.WriteFile(path, data, 0o600)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = runCLI(t, ctx, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--registry-listen", "", "--http-listen", "", "--log-level", "error")
	if err == nil || ctx.Err() != nil {
		t.Fatalf("serve on a damaged metadata log: %v (ctx %v)", err, ctx.Err())
	}
	for _, want := range []string{path, "herald repair " + dir} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("serve's error %q does not say %q", err, want)
		}
	}

	out, err := runCLI(t, testCtx(t), "repair", dir)
	if err != nil || !strings.Contains(out, "Nothing was changed") || !strings.Contains(out, "orders (3 partitions)") {
		t.Fatalf("repair dry run: %v\n%s", err, out)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Fatal("dry run changed the log")
	}
	out, err = runCLI(t, testCtx(t), "repair", "--execute", dir)
	if err != nil || !strings.Contains(out, "Done:") {
		t.Fatalf("repair: %v\n%s", err, out)
	}
	aside, _ := filepath.Glob(path + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("damaged log kept as %v", aside)
	}
	if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, data) {
		t.Fatal("the damaged log was not kept as it was")
	}
	srv = mustServer(t, dir)
	defer srv.Close()
	verify(t, srv)
}

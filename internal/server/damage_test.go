package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/heraldtestutil"
	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/server"
)

// logCapture is an slog handler that keeps every line, for asserting
// what the broker reported.
type logCapture struct {
	mu    *sync.Mutex
	lines *[]string
}

func newLogCapture() logCapture { return logCapture{mu: new(sync.Mutex), lines: new([]string)} }

func (c logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c logCapture) WithAttrs(as []slog.Attr) slog.Handler    { return c }
func (c logCapture) WithGroup(string) slog.Handler            { return c }
func (c logCapture) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	c.mu.Lock()
	*c.lines = append(*c.lines, b.String())
	c.mu.Unlock()
	return nil
}

// find returns the lines that contain s.
func (c logCapture) find(s string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, l := range *c.lines {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

func (c logCapture) all() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(*c.lines, "\n")
}

// waitLog polls until a line containing s is logged.
func waitLog(t *testing.T, c logCapture, s string) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if l := c.find(s); len(l) > 0 {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q; log:\n%s", s, c.all())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const damageTopic = "dmg"

func startDamageBroker(t *testing.T, dir string, c logCapture, mode string) *heraldtest.Broker {
	t.Helper()
	return heraldtest.NewBroker(t, heraldtest.WithDataDir(dir), heraldtestutil.WithConfig(func(cfg *server.Config) {
		cfg.Logger = slog.New(c)
		cfg.OnCorruption = mode
		cfg.VerifyBytesPerSec = -1
	}))
}

// acked is a record the broker acknowledged.
type acked struct {
	offset int64
	value  []byte
}

// fillDamageTopic creates a topic of small segments and produces n records,
// one batch each, then deletes the first record (so the log start offset
// file exists) and stops the broker cleanly.
func fillDamageTopic(t *testing.T, dir string, n int) []acked {
	t.Helper()
	b := startDamageBroker(t, dir, newLogCapture(), broker.OnCorruptionServe)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	seg := "2048"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": &seg}, damageTopic); err != nil {
		t.Fatal(err)
	}
	var out []acked
	for i := range n {
		v := []byte(fmt.Sprintf("value-%04d-%s", i, strings.Repeat("x", 80)))
		r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: damageTopic, Value: v}).First()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, acked{offset: r.Offset, value: v})
	}
	if _, err := adm.DeleteRecords(ctx, kadm.Offsets{damageTopic: {0: {Topic: damageTopic, Partition: 0, At: 1}}}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	return out
}

// fetchAround reads the partition from the log start to the high
// watermark with raw Fetch requests, seeking past offsets answered with
// CORRUPT_MESSAGE, and returns the values read by offset and the offsets
// that were answered CORRUPT_MESSAGE.
func fetchAround(t *testing.T, addr string) (map[int64][]byte, []int64, int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(kversion.V2_8_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[int64][]byte{}
	var corrupt []int64
	var off, hw int64 = 0, 1
	for first := true; off < hw; first = false {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.MaxWaitMillis = -1, 1<<20, 0
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = damageTopic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes, rp.LogStartOffset = off, 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		hw = p.HighWatermark
		if first && off < p.LogStartOffset {
			off = p.LogStartOffset
		}
		switch err := kerr.ErrorForCode(p.ErrorCode); {
		case errors.Is(err, kerr.CorruptMessage):
			corrupt = append(corrupt, off)
			off++
			continue
		case errors.Is(err, kerr.OffsetOutOfRange):
			off = p.LogStartOffset
			continue
		case err != nil:
			t.Fatalf("fetch at %d: %v", off, err)
		}
		data := p.RecordBatches
		if len(data) == 0 {
			break // a gap recovery left at the end
		}
		for len(data) > 0 {
			n, ok := records.PeekSize(data)
			if !ok || n > len(data) {
				break
			}
			h := records.Header(data)
			it, _, err := records.Decode(data[:n], nil)
			if err != nil {
				t.Fatalf("batch at %d: %v", h.BaseOffset(), err)
			}
			for it.Next() {
				got[h.BaseOffset()+int64(it.Record().OffsetDelta)] = bytes.Clone(it.Record().Value)
			}
			off = h.LastOffset() + 1
			data = data[n:]
		}
	}
	return got, corrupt, hw
}

// partitionFiles lists the segment bases of the partition dir.
func segmentBases(t *testing.T, pdir string) []int64 {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(pdir, "*.log"))
	var bases []int64
	for _, l := range logs {
		b, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(l), ".log"), 10, 64)
		if err == nil {
			bases = append(bases, b)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases
}

// batchStart returns the position and base offset of the batch holding
// byte pos of a segment file.
func batchStart(data []byte, base int64, pos int64) (int64, int64) {
	p := int64(0)
	for {
		n, ok := records.PeekSize(data[p:])
		if !ok || p+int64(n) > pos {
			return p, records.Header(data[p:]).BaseOffset()
		}
		p += int64(n)
	}
}

type damageCase struct {
	file  string // active, closed, index, timeindex, snapshot, logstart
	how   string // flip, truncate, zero, delete
	where string // head, middle, tail
}

// expect is what a case must log: any one of these substrings.
func (c damageCase) expect() []string {
	switch c.file {
	case "active":
		if c.how == "delete" {
			return []string{"segment file missing"}
		}
		return []string{"damaged tail", "torn tail", "index files disagree"}
	case "closed":
		if c.how == "delete" {
			return []string{"segment file missing"}
		}
		return []string{"damaged log data found"}
	case "index", "timeindex":
		if c.how == "delete" {
			return nil // a cache: rebuilt without a word
		}
		return []string{"index files disagree"}
	case "logstart":
		if c.how == "flip" || c.how == "zero" || (c.how == "truncate" && c.where == "head") {
			return []string{"unreadable log start"}
		}
	}
	return nil
}

// TestDamageMatrix damages each kind of partition file each way at the
// head, middle and tail, restarts the broker, and checks through a real
// Kafka client that every acknowledged record before the damage reads
// back byte-identical, that a new record gets an offset above every
// offset ever acknowledged, and that the damage was reported.
func TestDamageMatrix(t *testing.T) {
	var cases []damageCase
	for _, file := range []string{"active", "closed", "index", "timeindex", "snapshot", "logstart"} {
		for _, how := range []string{"flip", "truncate", "zero", "delete"} {
			for _, where := range []string{"head", "middle", "tail"} {
				if how == "delete" && where != "head" {
					continue
				}
				cases = append(cases, damageCase{file, how, where})
			}
		}
	}
	for _, c := range cases {
		t.Run(c.file+"/"+c.how+"/"+c.where, func(t *testing.T) {
			t.Parallel()
			runDamageCase(t, c)
		})
	}
}

func runDamageCase(t *testing.T, c damageCase) {
	dir := t.TempDir()
	acks := fillDamageTopic(t, dir, 60)
	pdir := filepath.Join(dir, damageTopic+"-0")
	bases := segmentBases(t, pdir)
	if len(bases) < 4 {
		t.Fatalf("want at least 4 segments, have %v", bases)
	}
	seg := map[string]int64{"active": bases[len(bases)-1], "closed": bases[1], "index": bases[1], "timeindex": bases[1]}[c.file]
	var path string
	switch c.file {
	case "active", "closed":
		path = filepath.Join(pdir, fmt.Sprintf("%020d.log", seg))
	case "index", "timeindex":
		path = filepath.Join(pdir, fmt.Sprintf("%020d.%s", seg, c.file))
	case "snapshot":
		path = filepath.Join(pdir, "producer.snapshot")
	case "logstart":
		path = filepath.Join(pdir, "log-start-offset")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the case's file: %v", err)
	}
	// lost: the first offset the damage may take; records below it must
	// read back. upTo: records at or above it (later segments) too.
	lost, upTo := int64(1<<62), int64(1<<62)
	pos := map[string]int64{"head": 0, "middle": int64(len(data)) / 2, "tail": int64(len(data)) - 1}[c.where]
	isLog := c.file == "active" || c.file == "closed"
	if isLog {
		// Inside a batch's records, under the CRC: a batch header's
		// offsets are what recovery goes by.
		start, _ := batchStart(data, seg, pos)
		n, _ := records.PeekSize(data[start:])
		pos = start + min(70, int64(n)-2)
		if c.where == "tail" && c.how == "zero" {
			pos = int64(len(data)) - 64
		}
		_, lost = batchStart(data, seg, pos)
		if c.how == "delete" {
			lost = seg
		}
		if c.file == "closed" {
			upTo = bases[2]
		}
	}
	switch c.how {
	case "flip":
		data[pos] ^= 0x40
		err = os.WriteFile(path, data, 0o600)
	case "truncate":
		err = os.Truncate(path, pos)
	case "zero":
		end := min(pos+64, int64(len(data)))
		clear(data[pos:end])
		err = os.WriteFile(path, data, 0o600)
	case "delete":
		err = os.Remove(path)
	}
	if err != nil {
		t.Fatal(err)
	}

	logs := newLogCapture()
	b := startDamageBroker(t, dir, logs, broker.OnCorruptionServe)
	waitLog(t, logs, "background verification finished")
	got, corrupt, _ := fetchAround(t, b.Addr())
	maxAcked := int64(-1)
	for _, a := range acks {
		maxAcked = max(maxAcked, a.offset)
		if a.offset < 1 || (a.offset >= lost && a.offset < upTo) {
			continue
		}
		if !bytes.Equal(got[a.offset], a.value) {
			t.Errorf("acknowledged record at %d reads back as %.20q, want %.20q (damage from offset %d; CORRUPT_MESSAGE at %v)",
				a.offset, got[a.offset], a.value, lost, corrupt)
		}
	}
	if (c.file == "closed" || c.file == "active") && c.how == "flip" && !slicesContains(corrupt, lost) {
		t.Errorf("fetch of damaged offset %d did not answer CORRUPT_MESSAGE (answered at %v)", lost, corrupt)
	}
	if want := c.expect(); len(want) > 0 {
		ok := false
		for _, w := range want {
			ok = ok || len(logs.find(w)) > 0
		}
		if !ok {
			t.Errorf("no log line with any of %q; log:\n%s", want, logs.all())
		}
	}
	if c.file == "closed" && c.how != "delete" {
		l := logs.find("damaged log data found")[0]
		for _, w := range []string{"topic=" + damageTopic, "partition=0", "first_offset=" + strconv.FormatInt(lost, 10), "file=" + path} {
			if !strings.Contains(l, w) {
				t.Errorf("damage report %q lacks %q", l, w)
			}
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	r, err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: damageTopic, Value: []byte("after")}).First()
	if err != nil {
		t.Fatalf("produce after restart: %v", err)
	}
	if r.Offset <= maxAcked {
		t.Fatalf("a new record got offset %d; offsets up to %d were acknowledged", r.Offset, maxAcked)
	}
}

func slicesContains(s []int64, v int64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestOnCorruptionStop: with --on-corruption=stop, damage found by the
// background verification stops the server with ErrCorruption.
func TestOnCorruptionStop(t *testing.T) {
	dir := t.TempDir()
	fillDamageTopic(t, dir, 60)
	pdir := filepath.Join(dir, damageTopic+"-0")
	bases := segmentBases(t, pdir)
	path := filepath.Join(pdir, fmt.Sprintf("%020d.log", bases[1]))
	data, _ := os.ReadFile(path)
	data[100] ^= 0x40
	os.WriteFile(path, data, 0o600)

	logs := newLogCapture()
	b := startDamageBroker(t, dir, logs, broker.OnCorruptionStop)
	select {
	case err := <-heraldtestutil.Server(b).Failed():
		if !errors.Is(err, broker.ErrCorruption) {
			t.Fatalf("server failed with %v, want ErrCorruption", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("server did not stop; log:\n%s", logs.all())
	}
	if len(logs.find("ERROR damaged log data found")) != 1 {
		t.Fatalf("damage report missing; log:\n%s", logs.all())
	}
}

// TestConsumerSeeksPastDamage: a franz-go consumer that keeps retryable
// fetch errors sees CORRUPT_MESSAGE for the damaged offsets of a closed
// segment, seeks past them with SetOffsets, and reads every other record
// byte-identical.
func TestConsumerSeeksPastDamage(t *testing.T) {
	dir := t.TempDir()
	acks := fillDamageTopic(t, dir, 60)
	pdir := filepath.Join(dir, damageTopic+"-0")
	bases := segmentBases(t, pdir)
	path := filepath.Join(pdir, fmt.Sprintf("%020d.log", bases[1]))
	data, _ := os.ReadFile(path)
	_, damaged := batchStart(data, bases[1], 100)
	data[100] ^= 0x40
	os.WriteFile(path, data, 0o600)

	logs := newLogCapture()
	b := startDamageBroker(t, dir, logs, broker.OnCorruptionServe)
	waitLog(t, logs, "background verification finished")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.KeepRetryableFetchErrors(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{damageTopic: {0: kgo.NewOffset().At(1)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[int64][]byte{}
	next := int64(1)
	var corrupt []int64
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for next <= acks[len(acks)-1].offset {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed up to %d of %d; CORRUPT_MESSAGE at %v", next, acks[len(acks)-1].offset, corrupt)
		}
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, kerr.CorruptMessage) {
				t.Fatalf("fetch error %v", fe.Err)
			}
			corrupt = append(corrupt, next)
			next++
			cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{damageTopic: {0: {Epoch: -1, Offset: next}}})
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Offset] = r.Value
			next = max(next, r.Offset+1)
		})
	}
	if len(corrupt) != 1 || corrupt[0] != damaged {
		t.Fatalf("CORRUPT_MESSAGE at %v, want at the damaged offset %d only", corrupt, damaged)
	}
	for _, a := range acks[1:] {
		if a.offset != damaged && !bytes.Equal(got[a.offset], a.value) {
			t.Fatalf("record %d: got %.20q, want %.20q", a.offset, got[a.offset], a.value)
		}
	}
}

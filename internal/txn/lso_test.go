package txn

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/records"
)

// TestLastStableTakesNoPartitionLock: once a partition's state is loaded,
// LastStable answers while another goroutine holds the partition's lock
// (an append waiting on the disk, say), and the answer follows a
// transaction's first batch and its marker.
func TestLastStableTakesNoPartitionLock(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := broker.Open(broker.Config{DataDir: t.TempDir(), Durability: "none", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	top, err := b.CreateTopic("t", 1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	p := top.Partition(0)
	m := NewManager(ManagerConfig{Logger: quiet})
	defer m.Close()
	b.SetProducerState(m)
	lso := func() int64 {
		t.Helper()
		v, err := m.LastStable(p)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	plain := records.BuildBatch(records.BatchSpec{ProducerID: -1, BaseSequence: -1}, records.Record{Value: []byte("a")})
	if _, err := p.Append(plain, time.Now(), broker.AckLeader); err != nil {
		t.Fatal(err)
	}
	if got := lso(); got != 1 {
		t.Fatalf("last stable %d after one plain record, want 1", got)
	}
	txnBatch := records.BuildBatch(records.BatchSpec{Attributes: records.AttrTransactional, ProducerID: 7, BaseSequence: 0},
		records.Record{Value: []byte("t")})
	if _, err := p.Append(txnBatch, time.Now(), broker.AckLeader); err != nil {
		t.Fatal(err)
	}
	if got := lso(); got != 1 {
		t.Fatalf("last stable %d with a transaction open at 1, want 1", got)
	}

	m.mu.Lock()
	ps := m.mu.parts[p]
	m.mu.Unlock()
	ps.mu.Lock()
	got := make(chan int64, 1)
	go func() {
		v, _ := m.LastStable(p)
		got <- v
	}()
	select {
	case v := <-got:
		if v != 1 {
			t.Errorf("last stable %d under the partition lock, want 1", v)
		}
	case <-time.After(5 * time.Second):
		t.Error("LastStable waited for the partition's lock")
	}
	ps.mu.Unlock()

	if _, err := m.WriteMarker(p, 7, 0, true, 0); err != nil {
		t.Fatal(err)
	}
	if got := lso(); got != 3 {
		t.Fatalf("last stable %d after the commit marker at 2, want 3", got)
	}
}

// BenchmarkLastStable: LastStable from parallel readers (fetches) on one
// partition with a transaction open.
//
//	go test -run '^$' -bench LastStable -benchmem ./internal/txn
func BenchmarkLastStable(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	br, err := broker.Open(broker.Config{DataDir: b.TempDir(), Durability: "none", Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	top, err := br.CreateTopic("t", 1, nil, false)
	if err != nil {
		b.Fatal(err)
	}
	p := top.Partition(0)
	m := NewManager(ManagerConfig{Logger: quiet})
	defer m.Close()
	br.SetProducerState(m)
	txnBatch := records.BuildBatch(records.BatchSpec{Attributes: records.AttrTransactional, ProducerID: 7, BaseSequence: 0},
		records.Record{Value: []byte("t")})
	if _, err := p.Append(txnBatch, time.Now(), broker.AckLeader); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.LastStable(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

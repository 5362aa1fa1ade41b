package kafka

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/txn"
)

// BenchmarkProduceFetchOnePartition: four idempotent producers and four
// read_committed consumers share one partition, with producer state on, as
// a busy topic has them; every fetch asks for the last stable offset. One
// op is one produce (16 records of 1 KiB) or one fetch (up to 64 KiB).
//
//	go test -run '^$' -bench ProduceFetchOnePartition -benchmem ./internal/kafka
func BenchmarkProduceFetchOnePartition(b *testing.B) {
	br, err := broker.Open(broker.Config{DataDir: b.TempDir(), Durability: "none", Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := br.CreateTopic("t", 1, nil, false); err != nil {
		b.Fatal(err)
	}
	pm := txn.NewManager(txn.ManagerConfig{Logger: quiet})
	br.SetProducerState(pm)
	s := New(Config{Broker: br, Logger: quiet})
	b.Cleanup(func() { s.Close(); pm.Close(); br.Close() })
	var next atomic.Int64
	b.SetParallelism(4) // 8 goroutines on 2 cores; 4 on 1
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		g := next.Add(1)
		x, y := net.Pipe()
		defer x.Close()
		defer y.Close()
		c := newConn(s, x)
		if g%2 == 0 {
			benchProducer(b, s, c, g, pb)
		} else {
			benchConsumer(b, s, c, pb)
		}
	})
}

func benchProducer(b *testing.B, s *Server, c *conn, pid int64, pb *testing.PB) {
	batch := makeBatch(16, 1024, time.Now().UnixMilli())
	binary.BigEndian.PutUint64(batch[43:], uint64(pid))
	binary.BigEndian.PutUint16(batch[51:], 0)
	var frame []byte
	for seq := int32(0); pb.Next(); seq += 16 {
		binary.BigEndian.PutUint32(batch[53:], uint32(seq))
		records.SetCRC(batch)
		frame = kmsg.NewRequestFormatter().AppendRequest(frame[:0], produceReq(9, "t", 0, batch), 1)
		p := s.handle(c, frame[4:])
		if p.done != nil {
			<-p.done
		}
		if p.err != nil {
			b.Fatal(p.err)
		}
		if code := p.resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
			b.Fatalf("produce: error %d", code)
		}
	}
}

func benchConsumer(b *testing.B, s *Server, c *conn, pb *testing.PB) {
	req := fetchReq(12, "t", 0, 0, 0)
	req.IsolationLevel = readCommitted
	req.MaxBytes, req.Topics[0].Partitions[0].PartitionMaxBytes = 64<<10, 64<<10
	fetch := kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)[4:]
	for pb.Next() {
		p := s.handle(c, fetch)
		if p.err != nil || p.done != nil {
			b.Fatal(p.err)
		}
		p.releaseBufs()
	}
}

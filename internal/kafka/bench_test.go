package kafka

import (
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/broker"
)

// benchServer is a server whose broker does not fsync, so the benchmarks
// measure the request path rather than the disk.
func benchServer(b *testing.B) (*Server, *conn) { return benchServerWith(b, Config{}) }

// benchServerWith is benchServer with cfg (its broker and logger set
// here).
func benchServerWith(b *testing.B, cfg Config) (*Server, *conn) {
	br, err := broker.Open(broker.Config{DataDir: b.TempDir(), Durability: "none", Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := br.CreateTopic("t", 1, nil, false); err != nil {
		b.Fatal(err)
	}
	cfg.Broker, cfg.Logger = br, quiet
	s := New(cfg)
	x, y := net.Pipe()
	b.Cleanup(func() { x.Close(); y.Close(); s.Close(); br.Close() })
	return s, newConn(s, x)
}

// BenchmarkProduce: decode, append, count (request metrics) and encode the
// answer of one produce request carrying a batch of 16 records of 1 KiB.
func BenchmarkProduce(b *testing.B) {
	s, c := benchServer(b)
	batch := makeBatch(16, 1024, time.Now().UnixMilli())
	frame := kmsg.NewRequestFormatter().AppendRequest(nil, produceReq(9, "t", 0, batch), 1)[4:]
	work := make([]byte, len(frame))
	var out []byte
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		copy(work, frame)
		p := s.handle(c, work)
		if p.err != nil || p.done != nil {
			b.Fatal(p.err)
		}
		s.stats.observe(p) // what the writer counts for the metrics
		out = appendResponse(out[:0], p.corr, p.resp)
	}
}

// BenchmarkFetch: one fetch of up to 1 MiB from a partition of 16 KiB
// batches, encoded.
func BenchmarkFetch(b *testing.B) {
	s, c := benchServer(b)
	batch := makeBatch(16, 1024, time.Now().UnixMilli())
	frame := kmsg.NewRequestFormatter().AppendRequest(nil, produceReq(9, "t", 0, batch), 1)[4:]
	for range 200 {
		s.handle(c, append([]byte(nil), frame...))
	}
	fetch := kmsg.NewRequestFormatter().AppendRequest(nil, fetchReq(12, "t", 0, 0, 0), 1)[4:]
	var out []byte
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		p := s.handle(c, fetch)
		if p.err != nil || p.done != nil {
			b.Fatal(p.err)
		}
		out = appendResponse(out[:0], p.corr, p.resp)
		p.releaseBufs()
	}
}

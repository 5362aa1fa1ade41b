package kafka

import (
	"errors"
	"net"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/records"
)

// maxAllocPerFrame bounds what FuzzHandle lets one frame allocate: with the
// decompression cap at 16 MiB (a bomb may cost three times that), no frame of the fuzzer's size has a
// reason to cost more, so an allocation bomb fails the target.
const maxAllocPerFrame = 64 << 20

// FuzzHandle feeds arbitrary frames to the request path: it must never
// panic (a recovered handler panic counts as a failure), every answer must
// encode, answers that complete later must complete, and no frame may
// allocate more than maxAllocPerFrame (measured with runtime/metrics, which
// counts every goroutine's allocations, the server's included).
func FuzzHandle(f *testing.F) {
	defer records.SetMaxDecompressed(records.SetMaxDecompressed(16 << 20))
	for _, a := range apis {
		for _, v := range []int16{a.min, a.max} {
			req := kmsg.RequestForKey(a.key)
			req.SetVersion(v)
			f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)[4:])
		}
	}
	for _, v := range []int16{3, 9, 13} {
		f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, produceReq(v, "t", 0, makeBatch(2, 5, 1)), 1)[4:])
	}
	for _, v := range []int16{4, 12, 18} {
		f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, fetchReq(v, "t", 0, 0, time.Millisecond), 1)[4:])
	}
	f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, quotaSeedAlter(), 1)[4:])
	f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, quotaSeedDescribe(), 1)[4:])
	// A produce of a zstd bomb: 8 KiB expanding to 256 MiB.
	f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, produceReq(9, "t", 0, zstdBomb(f, 256<<20)), 1)[4:])
	ts := startServer(f, nil)
	if _, err := ts.b.CreateTopic("t", 1, nil, false); err != nil {
		f.Fatal(err)
	}
	ts.s.maxWait = 5 * time.Millisecond
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := newConn(ts.s, a)
	allocs := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	f.Fuzz(func(t *testing.T, frame []byte) {
		metrics.Read(allocs)
		before := allocs[0].Value.Uint64()
		fuzzFrame(t, ts.s, c, frame)
		metrics.Read(allocs)
		if n := allocs[0].Value.Uint64() - before; n > maxAllocPerFrame {
			t.Fatalf("a %d-byte frame allocated %d MiB", len(frame), n>>20)
		}
	})
}

// fuzzFrame handles one fuzzed frame on c as the connection's reader
// would and fails t if the handler panicked or never answered; a reply is
// encoded, as the writer would, so encoding faults show too.
func fuzzFrame(t *testing.T, s *Server, c *conn, frame []byte) {
	t.Helper()
	p := s.handle(c, frame)
	if p.done != nil {
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Fatal("answer never completed")
		}
	}
	if errors.Is(p.err, errHandlerPanic) {
		t.Fatal(p.err)
	}
	if p.err == nil && !p.noReply {
		appendResponse(nil, p.corr, p.resp)
	}
	p.releaseBufs()
}

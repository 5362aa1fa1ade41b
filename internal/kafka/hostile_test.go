package kafka

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/records"
)

// Attack tests: a client that sends hostile frames or nothing at all must
// not take the broker's memory, connections or descriptors. Memory is
// measured in-process: the test and the server share the heap, so each
// test keeps its own allocations small and measures around the attack.

// heapInuse is the live heap after a collection.
func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// checkFor polls cond every 10ms until it holds or d passes.
func checkFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// peakHeapDuring samples the live heap every 20ms for d and returns the
// largest value.
func peakHeapDuring(d time.Duration) uint64 {
	var peak uint64
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		peak = max(peak, heapInuse())
	}
	return peak
}

// apiVersionsAnswered reports whether a new connection gets an answer to
// ApiVersions.
func (ts *testServer) apiVersionsAnswered(t *testing.T) bool {
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		return false
	}
	defer nc.Close()
	c := &client{t: t, nc: nc}
	req := kmsg.NewPtrApiVersionsRequest()
	b := kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)
	if _, err := nc.Write(b); err != nil {
		return false
	}
	nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	var size [4]byte
	_, err = c.nc.Read(size[:])
	return err == nil
}

// frameStart is the start of a frame announcing size bytes: the size and
// an ApiVersions v0 header (the body never comes).
func frameStart(size int32) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(size))
	b = binary.BigEndian.AppendUint16(b, apiVersionsKey)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, 1)
	return binary.BigEndian.AppendUint16(b, 0xffff)
}

// TestAnnouncedFramesDoNotTakeMemory: ten connections announce 100 MiB
// frames and send nothing more. The broker must not allocate for bytes
// that have not arrived, and the bytes it does hold are bounded by the
// queued request budget.
func TestAnnouncedFramesDoNotTakeMemory(t *testing.T) {
	const budget = 16 << 20
	ts := startServer(t, func(c *Config) { c.QueuedMaxRequestBytes = budget })
	before := heapInuse()
	var conns []net.Conn
	for range 10 {
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, err := nc.Write(frameStart(100 << 20)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
	}
	peak := peakHeapDuring(time.Second)
	if grew := int64(peak) - int64(before); grew > budget+16<<20 {
		t.Fatalf("heap grew by %d MiB for 10 announced 100 MiB frames; budget %d MiB", grew>>20, budget>>20)
	}
	// Small requests still get through while the big ones wait.
	if !ts.apiVersionsAnswered(t) {
		t.Fatal("a new client is not answered during the attack")
	}
	for _, nc := range conns {
		nc.Close()
	}
	checkFor(t, 5*time.Second, "heap back near its size before the attack", func() bool {
		return int64(heapInuse())-int64(before) < 8<<20
	})
}

// TestFrameLargerThanBudget: a frame larger than the whole budget is still
// read and answered once it has the budget to itself.
func TestFrameLargerThanBudget(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.QueuedMaxRequestBytes = 64 << 10 })
	if _, err := ts.b.CreateTopic("big", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t)
	batch := makeBatch(4, 200<<10, time.Now().UnixMilli())
	resp := c.roundTrip(produceReq(9, "big", 0, batch)).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("produce of an 800 KiB batch with a 64 KiB budget: error %d", code)
	}
}

// TestIdleConnectionsClosed: silent sockets that fill the connection limit
// are closed after the idle timeout, and new clients get in.
func TestIdleConnectionsClosed(t *testing.T) {
	const idle = 300 * time.Millisecond
	ts := startServer(t, func(c *Config) { c.MaxConnections, c.IdleTimeout = 20, idle })
	var silent []*client
	for range 20 {
		silent = append(silent, ts.dial(t))
	}
	checkFor(t, 20*time.Second, "the server holds 20 connections", func() bool { return ts.s.nconns.Load() == 20 })
	start := time.Now()
	for i, c := range silent {
		if !c.closed() {
			t.Fatalf("silent connection %d still open %v after connecting; idle timeout %v", i, time.Since(start), idle)
		}
	}
	checkFor(t, 5*time.Second, "a new client answered after the idle connections closed", func() bool {
		return ts.apiVersionsAnswered(t)
	})
}

// TestLongPollIsNotIdle: a connection waiting for its fetch's long poll
// is not idle, however long the poll.
func TestLongPollIsNotIdle(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.IdleTimeout = 100 * time.Millisecond })
	if _, err := ts.b.CreateTopic("poll", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t)
	c.roundTrip(produceReq(9, "poll", 0, makeBatch(1, 10, 1)))
	req := fetchReq(12, "poll", 0, 1, 800*time.Millisecond)
	start := time.Now()
	resp := c.roundTrip(req).(*kmsg.FetchResponse)
	if resp.Topics[0].Partitions[0].ErrorCode != 0 || time.Since(start) < 700*time.Millisecond {
		t.Fatalf("long poll answered after %v with error %d", time.Since(start), resp.Topics[0].Partitions[0].ErrorCode)
	}
	c.roundTrip(kmsg.NewPtrApiVersionsRequest())
}

// TestSlowlorisClosed: a client that trickles a frame at a few bytes a
// second is closed once the request read timeout passes.
func TestSlowlorisClosed(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequestReadTimeout = 300 * time.Millisecond })
	c := ts.dial(t)
	frame := frameStart(200)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for _, b := range frame {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := c.nc.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	if !c.closed() {
		t.Fatal("a client trickling a frame at 10 bytes/s is still connected after 5s; request read timeout 300ms")
	}
}

// zstdBomb is a produce batch of one record whose zstd-compressed records
// section, a few KiB written as a stream (no declared content size, as
// the Java client writes it), expands to size bytes. Its window is small,
// so that only the output, not the window, can trip a decoder's bound.
func zstdBomb(t testing.TB, size int) []byte {
	var zb bytes.Buffer
	zw, err := zstd.NewWriter(&zb, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for n := 0; n < size; n += len(zeros) {
		zw.Write(zeros)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	b := makeBatch(1, 0, time.Now().UnixMilli())[:records.HeaderSize]
	b = append(b, zb.Bytes()...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint16(b[21:], uint16(records.CodecZstd))
	records.SetCRC(b)
	return b
}

// TestProduceDecompressionBombs: four connections at once produce a
// 256 MiB zstd bomb of a few KiB each. Each is refused INVALID_RECORD, and
// validating them allocates a bounded multiple of the decompression cap.
func TestProduceDecompressionBombs(t *testing.T) {
	const limit = 16 << 20
	defer records.SetMaxDecompressed(records.SetMaxDecompressed(limit))
	ts := startServer(t, nil)
	if _, err := ts.b.CreateTopic("bomb", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	bomb := zstdBomb(t, 256<<20)
	var clients []*client
	for range 4 {
		clients = append(clients, ts.dial(t))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	codes := make(chan int16, len(clients))
	for _, c := range clients {
		go func() {
			// No t.Fatal here (it would end this goroutine and leave
			// the test waiting): an error is reported as code -1.
			code, err := produceCode(c, produceReq(9, "bomb", 0, bomb))
			if err != nil {
				t.Errorf("produce a bomb: %v", err)
			}
			codes <- code
		}()
	}
	for range clients {
		if code := <-codes; code != kerr.InvalidRecord.Code {
			t.Errorf("a %d-byte zstd bomb: error %d, want INVALID_RECORD", len(bomb), code)
		}
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*(3*limit+16<<20) {
		t.Errorf("four bombs allocated %d MiB; decompression cap %d MiB", alloc>>20, limit>>20)
	}
}

// produceCode sends req on c and returns the first partition's error code,
// or -1 and the error; unlike send and recv it never calls t.Fatal, so
// goroutines may use it.
func produceCode(c *client, req *kmsg.ProduceRequest) (int16, error) {
	c.corr++
	b := kmsg.NewRequestFormatter(kmsg.FormatterClientID("test")).AppendRequest(nil, req, c.corr)
	if _, err := c.nc.Write(b); err != nil {
		return -1, err
	}
	// Four 16 MiB decompressions under -race on a loaded machine can
	// take longer than readFrame's 10 s: give the answer a minute.
	c.nc.SetReadDeadline(time.Now().Add(time.Minute))
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return -1, fmt.Errorf("read response: %w", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.nc, body); err != nil {
		return -1, fmt.Errorf("read response: %w", err)
	}
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	if err := resp.ReadFrom(body[4+1:]); err != nil { // correlation id, empty header tags (v9 is flexible)
		return -1, fmt.Errorf("decode response: %w", err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode, nil
}

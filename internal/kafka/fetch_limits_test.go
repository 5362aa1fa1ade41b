package kafka

import (
	"encoding/binary"
	"io"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchDuplicatePartitionAnsweredOnce: a partition listed several
// times in one fetch, within a topic and in a repeated topic, is answered
// once, as Kafka does.
func TestFetchDuplicatePartitionAnsweredOnce(t *testing.T) {
	ts := startServer(t, nil)
	if _, err := ts.b.CreateTopic("dup", 2, nil, false); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t)
	c.roundTrip(produceReq(9, "dup", 0, makeBatch(3, 10, 1)))
	req := fetchReq(12, "dup", 0, 0, 0)
	rp := req.Topics[0].Partitions[0]
	other := rp
	other.Partition = 1
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp, other, rp)
	req.Topics = append(req.Topics, req.Topics[0])
	resp := c.roundTrip(req).(*kmsg.FetchResponse)
	seen := map[int32]int{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			seen[p.Partition]++
			if p.ErrorCode != 0 {
				t.Fatalf("partition %d: error %d", p.Partition, p.ErrorCode)
			}
			if p.Partition == 0 && len(p.RecordBatches) == 0 {
				t.Fatal("partition 0 answered without its records")
			}
		}
	}
	if seen[0] != 1 || seen[1] != 1 {
		t.Fatalf("partitions answered %v times, want each once", seen)
	}
}

// TestFetchResponseCapped: a fetch asking for 2^31-1 bytes, listing its
// partition fifty times, gets at most the broker's fetch.max.bytes, and
// building the answer allocates in proportion to that cap.
func TestFetchResponseCapped(t *testing.T) {
	const fetchMax = 2 << 20
	ts := startServer(t, func(c *Config) { c.FetchMaxBytes = fetchMax })
	if _, err := ts.b.CreateTopic("cap", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t)
	batch := makeBatch(1, 512<<10, time.Now().UnixMilli())
	for range 8 {
		c.roundTrip(produceReq(9, "cap", 0, batch))
	}
	req := fetchReq(12, "cap", 0, 0, 0)
	req.MaxBytes = math.MaxInt32
	req.Topics[0].Partitions[0].PartitionMaxBytes = math.MaxInt32
	for range 49 {
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, req.Topics[0].Partitions[0])
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c.send(req)
	c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		t.Fatal(err)
	}
	n := int64(binary.BigEndian.Uint32(size[:]))
	if _, err := io.CopyN(io.Discard, c.nc, n); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n > fetchMax+64<<10 {
		t.Errorf("response of %d bytes; fetch.max.bytes %d", n, fetchMax)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3*fetchMax+4<<20 {
		t.Errorf("answering the fetch allocated %d MiB; fetch.max.bytes %d MiB", alloc>>20, fetchMax>>20)
	}
}

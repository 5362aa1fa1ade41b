package broker

import (
	"sync/atomic"

	hlog "github.com/heraldhq/herald/internal/log"
	"github.com/heraldhq/herald/internal/records"
)

// traffic counts a partition's produced and fetched bytes and records:
// four atomic adds per append or read, read by the metrics collector at
// scrape time.
type traffic struct {
	bytesIn, recordsIn, bytesOut, recordsOut atomic.Uint64
}

// Traffic is a partition's counters since the broker started.
type Traffic struct {
	BytesIn, RecordsIn   uint64 // appended by producers (Append), duplicates excluded
	BytesOut, RecordsOut uint64 // read by fetches (Read)
}

// countIn counts one appended batch.
func (t *traffic) countIn(b []byte) {
	t.bytesIn.Add(uint64(len(b)))
	t.recordsIn.Add(uint64(max(records.Header(b).RecordCount(), 0)))
}

// countOut counts the batches of one read: their headers only, nothing is
// decoded. A batch cut short at the end of b is counted by its bytes.
func (t *traffic) countOut(b []byte) {
	var n uint64
	t.bytesOut.Add(uint64(len(b)))
	for len(b) >= records.HeaderSize {
		h := records.Header(b)
		n += uint64(max(h.RecordCount(), 0))
		size := h.Size()
		if size <= 0 || size > len(b) {
			break
		}
		b = b[size:]
	}
	t.recordsOut.Add(n)
}

// Traffic returns the partition's counters.
func (p *Partition) Traffic() Traffic {
	return Traffic{BytesIn: p.traffic.bytesIn.Load(), RecordsIn: p.traffic.recordsIn.Load(),
		BytesOut: p.traffic.bytesOut.Load(), RecordsOut: p.traffic.recordsOut.Load()}
}

// StorageStats are the syncs of every partition's log, shared.
func (b *Broker) StorageStats() *hlog.Stats { return b.storage }

// Peek appends to dst the batches from the one holding offset on, at
// least one and about one batch's worth, for a lookup of that record (the
// correlation index); it is not counted as fetched traffic.
func (p *Partition) Peek(dst []byte, offset int64) ([]byte, error) {
	return p.log.Read(dst, offset, 1, true)
}

// CorrelationIndexDir is the data dir's subdirectory of the correlation
// index (internal/corrindex), a pebble store: not a partition, and a
// name no partition directory (<topic>-<n>) can have.
const CorrelationIndexDir = "correlation-index"

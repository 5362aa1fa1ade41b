package txn

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/heraldhq/herald/internal/vfs"
)

// The producer state snapshot of a partition, <partition dir>/producer.snapshot,
// all big-endian:
//
//	magic "HPS1" | offset int64 (state covers every batch below it)
//	nproducers int32 | { pid int64 | epoch int16 | txnFirst int64 |
//	                     nbatches int8 | { firstSeq int32 | lastSeq int32 |
//	                                       firstOffset int64 | lastOffset int64 } }
//	nopen int32 | { pid int64 | first int64 }
//	naborted int32 | { pid int64 | first int64 | last int64 }
//	crc32c uint32 (Castagnoli, over everything before it)
//
// It is a cache: written (without fsync) when the partition's log rolls a
// segment and when the broker closes, and ignored when its CRC fails or its
// offset is past the log end. Recovery loads it and scans only the batches
// from its offset on.
const (
	snapshotName  = "producer.snapshot"
	snapshotMagic = "HPS1" // part of the on-disk format; do not change
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errBadSnapshot = errors.New("producer snapshot is damaged")

// encodeSnapshot writes s as of offset. Transactions whose markers are
// appended are left out: the snapshot offset is past their markers.
func encodeSnapshot(s *state, offset int64) []byte {
	be := binary.BigEndian
	b := append([]byte(nil), snapshotMagic...)
	b = be.AppendUint64(b, uint64(offset))
	pids := make([]int64, 0, len(s.producers))
	for pid := range s.producers {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	b = be.AppendUint32(b, uint32(len(pids)))
	for _, pid := range pids {
		pr := s.producers[pid]
		b = be.AppendUint64(b, uint64(pid))
		b = be.AppendUint16(b, uint16(pr.epoch))
		b = be.AppendUint64(b, uint64(pr.txnFirst))
		b = append(b, byte(len(pr.batches)))
		for _, bm := range pr.batches {
			b = be.AppendUint32(b, uint32(bm.firstSeq))
			b = be.AppendUint32(b, uint32(bm.lastSeq))
			b = be.AppendUint64(b, uint64(bm.firstOffset))
			b = be.AppendUint64(b, uint64(bm.lastOffset))
		}
	}
	var open []openTxn
	for _, o := range s.open {
		if o.marker < 0 {
			open = append(open, o)
		}
	}
	b = be.AppendUint32(b, uint32(len(open)))
	for _, o := range open {
		b = be.AppendUint64(b, uint64(o.pid))
		b = be.AppendUint64(b, uint64(o.first))
	}
	b = be.AppendUint32(b, uint32(len(s.aborted)))
	for _, a := range s.aborted {
		b = be.AppendUint64(b, uint64(a.ProducerID))
		b = be.AppendUint64(b, uint64(a.FirstOffset))
		b = be.AppendUint64(b, uint64(a.LastOffset))
	}
	return be.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// snapReader is a sticky-error reader over a snapshot body.
type snapReader struct {
	b   []byte
	bad bool
}

func (r *snapReader) take(n int) []byte {
	if r.bad || len(r.b) < n {
		r.bad = true
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
func (r *snapReader) u8() uint8   { return r.take(1)[0] }
func (r *snapReader) u16() uint16 { return binary.BigEndian.Uint16(r.take(2)) }
func (r *snapReader) u32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
func (r *snapReader) i64() int64  { return int64(binary.BigEndian.Uint64(r.take(8))) }

// count reads a count and checks it against the bytes left (each item is
// at least min bytes), so a damaged count cannot make us allocate much.
func (r *snapReader) count(min int) int {
	n := int(r.u32())
	if n < 0 || n*min > len(r.b) {
		r.bad = true
		return 0
	}
	return n
}

func decodeSnapshot(b []byte) (*state, int64, error) {
	if len(b) < len(snapshotMagic)+12 || string(b[:4]) != snapshotMagic {
		return nil, 0, errBadSnapshot
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, 0, errBadSnapshot
	}
	r := &snapReader{b: body[4:]}
	offset := r.i64()
	s := newState()
	for range r.count(19) {
		pid := r.i64()
		pr := &producer{epoch: int16(r.u16()), txnFirst: r.i64()}
		nb := int(r.u8())
		if nb > maxBatches {
			return nil, 0, errBadSnapshot
		}
		for range nb {
			pr.batches = append(pr.batches, batchMeta{firstSeq: int32(r.u32()), lastSeq: int32(r.u32()),
				firstOffset: r.i64(), lastOffset: r.i64()})
		}
		s.producers[pid] = pr
	}
	for range r.count(16) {
		s.open = append(s.open, openTxn{pid: r.i64(), first: r.i64(), marker: -1})
	}
	for range r.count(24) {
		s.aborted = append(s.aborted, AbortedTxn{ProducerID: r.i64(), FirstOffset: r.i64(), LastOffset: r.i64()})
	}
	if r.bad || len(r.b) != 0 {
		return nil, 0, errBadSnapshot
	}
	return s, offset, nil
}

// writeSnapshot replaces dir's snapshot through a temporary file and a
// rename, so a reader sees the old or the new one whole.
func writeSnapshot(fs vfs.FS, dir string, data []byte) error {
	tmp := filepath.Join(dir, snapshotName+".tmp")
	f, err := fs.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return fs.Rename(tmp, filepath.Join(dir, snapshotName))
}

func readSnapshot(fs vfs.FS, dir string) ([]byte, error) {
	f, err := fs.OpenFile(filepath.Join(dir, snapshotName), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

package kafka

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A fetch response is mostly stored record batches. Encoding it with kmsg
// copies every batch into the frame buffer, which profiling showed is about
// 40% of the broker's CPU when consumers read a backlog. Instead, kmsg
// encodes the response with a 16-byte marker in place of each partition's
// batches, and the frame is written with writev as the pieces between the
// markers, each batch straight from the buffer it was read into, with its
// length field re-encoded. Everything but the batch bytes is still encoded
// by kmsg.
//
// The markers are a random per-process prefix plus the partition's index,
// so no topic name or error message can contain one by chance; if a marker
// is not found exactly where expected, the frame is encoded the plain way.

// spliceMinBytes is the least batch data worth splicing; below it one copy
// costs less than the extra iovecs.
const spliceMinBytes = 64 << 10

const markerSize = 16

// markerPrefix is the random part of every marker.
var markerPrefix = func() [markerSize - 4]byte {
	var p [markerSize - 4]byte
	if _, err := rand.Read(p[:]); err != nil {
		panic("kafka: no randomness for fetch markers: " + err.Error())
	}
	return p
}()

func marker(i int) []byte {
	m := make([]byte, markerSize)
	copy(m, markerPrefix[:])
	binary.BigEndian.PutUint32(m[markerSize-4:], uint32(i))
	return m
}

// fetchSplice holds a connection's reusable state for spliced writes.
type fetchSplice struct {
	saved   [][]byte // the partitions' batches, in encoding order
	markers [][]byte // markers[i] stands in for saved[i]
	lens    []byte   // re-encoded length fields; iovecs point into it
	iov     net.Buffers
}

// batchBytes is the total size of the record batches in r.
func batchBytes(r *kmsg.FetchResponse) int {
	n := 0
	for i := range r.Topics {
		for j := range r.Topics[i].Partitions {
			n += len(r.Topics[i].Partitions[j].RecordBatches)
		}
	}
	return n
}

// appendFetchFrame encodes r as a frame whose record batches are not
// copied: it returns the encoded skeleton in dst and the iovecs to write,
// or ok false when the splice could not be made (dst then holds nothing
// useful and the caller encodes the plain way). r is left as it was.
func (fs *fetchSplice) appendFetchFrame(dst []byte, corr int32, r *kmsg.FetchResponse) (out []byte, iov net.Buffers, ok bool) {
	fs.swapInMarkers(r)
	dst = appendResponse(dst, corr, r)
	fs.restore(r)
	return fs.build(dst, r.IsFlexible())
}

// swapInMarkers replaces each non-empty RecordBatches with a marker,
// remembering the batches.
func (fs *fetchSplice) swapInMarkers(r *kmsg.FetchResponse) {
	fs.saved = fs.saved[:0]
	for i := range r.Topics {
		for j := range r.Topics[i].Partitions {
			p := &r.Topics[i].Partitions[j]
			if len(p.RecordBatches) == 0 {
				continue
			}
			k := len(fs.saved)
			if k == len(fs.markers) {
				fs.markers = append(fs.markers, marker(k))
			}
			fs.saved = append(fs.saved, p.RecordBatches)
			p.RecordBatches = fs.markers[k]
		}
	}
}

// restore puts the batches back, in the same order.
func (fs *fetchSplice) restore(r *kmsg.FetchResponse) {
	k := 0
	for i := range r.Topics {
		for j := range r.Topics[i].Partitions {
			p := &r.Topics[i].Partitions[j]
			if len(p.RecordBatches) == 0 {
				continue
			}
			p.RecordBatches = fs.saved[k]
			k++
		}
	}
}

// build cuts the skeleton at the markers and interleaves the batches.
// Each marker was encoded as bytes: an int32 length of 16 before it, or,
// in flexible versions, the compact length 17 as one uvarint byte.
func (fs *fetchSplice) build(frame []byte, flexible bool) ([]byte, net.Buffers, bool) {
	oldLen := 4
	if flexible {
		oldLen = 1
	}
	fs.iov = fs.iov[:0]
	fs.lens = fs.lens[:0]
	if cap(fs.lens) < 5*len(fs.saved) {
		fs.lens = make([]byte, 0, 5*len(fs.saved))
	}
	size := len(frame) - 4 // the frame size field is rewritten below
	pos := 0
	for k, b := range fs.saved {
		at := bytes.Index(frame[pos:], fs.markers[k])
		if at < oldLen || (pos == 0 && at < 4+oldLen) || bytes.Count(frame, fs.markers[k]) != 1 {
			// Not where a batch can be, or not only there.
			return frame, nil, false
		}
		at += pos
		start := len(fs.lens)
		if flexible {
			fs.lens = binary.AppendUvarint(fs.lens, uint64(len(b))+1)
		} else {
			fs.lens = binary.BigEndian.AppendUint32(fs.lens, uint32(len(b)))
		}
		fs.iov = append(fs.iov, frame[pos:at-oldLen], fs.lens[start:], b)
		size += len(fs.lens) - start + len(b) - oldLen - markerSize
		pos = at + markerSize
	}
	fs.iov = append(fs.iov, frame[pos:])
	binary.BigEndian.PutUint32(frame[:4], uint32(size))
	return frame, fs.iov, true
}

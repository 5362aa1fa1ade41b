package corrindex

import "encoding/binary"

// Key kinds, the first byte of every key. Part of the on-disk format; do
// not change.
const (
	kindCorrelation = 'c' // 'c' | hash(ce_correlationid) | pid | offset -> ""
	kindEventID     = 'i' // 'i' | hash(ce_id)            | pid | offset -> ""
	kindPartition   = 'p' // 'p' | topic id (16) | partition (4) -> pid (4)
	kindReverse     = 'r' // 'r' | pid -> topic id (16) | partition (4)
	kindNext        = 'w' // 'w' | pid -> next offset to index (8)
)

// entryKeyLen is the length of a 'c' or 'i' key.
const entryKeyLen = 1 + 8 + 4 + 8

// hashID is 64-bit FNV-1a of id: stable across processes (the keys are on
// disk) and allocation-free. Collisions are harmless: every hit is read
// back and its header compared with the id asked for.
func hashID(id []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range id {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// appendEntryKey appends an entry key: kind, hash, pid and offset, big
// endian so that one id's entries sort by partition and offset.
func appendEntryKey(dst []byte, kind byte, hash uint64, pid uint32, offset int64) []byte {
	dst = append(dst, kind)
	dst = binary.BigEndian.AppendUint64(dst, hash)
	dst = binary.BigEndian.AppendUint32(dst, pid)
	return binary.BigEndian.AppendUint64(dst, uint64(offset))
}

// entryPrefix is the prefix of every entry of one id.
func entryPrefix(kind byte, hash uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{kind}, hash)
}

// parseEntryKey splits an entry key; ok is false for another length.
func parseEntryKey(k []byte) (pid uint32, offset int64, ok bool) {
	if len(k) != entryKeyLen {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(k[9:]), int64(binary.BigEndian.Uint64(k[13:])), true
}

func pidKey(kind byte, pid uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{kind}, pid)
}

// partKey is a partition's identity: the topic's id (a topic deleted and
// created again under its name gets a new one, so stale entries never
// point into the new topic) and the partition index.
type partKey struct {
	topicID   [16]byte
	partition int32
}

func (p partKey) bytes() []byte {
	b := append([]byte(nil), p.topicID[:]...)
	return binary.BigEndian.AppendUint32(b, uint32(p.partition))
}

func parsePartKey(b []byte) (partKey, bool) {
	var p partKey
	if len(b) != 20 {
		return p, false
	}
	copy(p.topicID[:], b)
	p.partition = int32(binary.BigEndian.Uint32(b[16:]))
	return p, true
}

// upperBound is the smallest key after every key with prefix.
func upperBound(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

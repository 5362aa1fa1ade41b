package corrindex

import (
	"encoding/binary"
	"sync/atomic"
)

// Every key starts with the epoch it was written in (4 bytes, big
// endian), then a kind byte. Part of the on-disk format; do not change.
//
//	epoch | 'c' | fnv64a(ce_correlationid) [8] | pid [4] | offset [8]  ->  ""
//	epoch | 'i' | fnv64a(ce_id)            [8] | pid [4] | offset [8]  ->  ""
//	epoch | 'p' | topic id [16] | partition [4]                        ->  pid [4]
//	epoch | 'w' | pid [4]                                              ->  next offset to index [8]
//
// The epoch grows by one every epochEntries entries and at every open, so
// each memtable pebble flushes holds keys of one or two epochs, after all
// the keys already on disk: flushed tables never overlap older ones, and
// pebble moves them down the levels instead of rewriting them (random
// hash-first keys would make every compaction rewrite the level below).
// A lookup seeks each epoch once.
const (
	kindCorrelation = 'c'
	kindEventID     = 'i'
	kindPartition   = 'p'
	kindNext        = 'w'
)

// epochEntries is how many entries an epoch holds before the next starts:
// about 25 MiB of keys, a memtable and a half.
// It is atomic because tests change it (export_test.go) while an index's
// background indexer of an earlier test may still run.
var epochEntries atomic.Int64

func init() { epochEntries.Store(1 << 20) }

// entryKeyLen is the length of a 'c' or 'i' key.
const entryKeyLen = 4 + 1 + 8 + 4 + 8

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

func appendHead(dst []byte, epoch uint32, kind byte) []byte {
	return append(binary.BigEndian.AppendUint32(dst, epoch), kind)
}

// appendEntryKey appends an entry key.
func appendEntryKey(dst []byte, epoch uint32, kind byte, hash uint64, pid uint32, offset int64) []byte {
	dst = appendHead(dst, epoch, kind)
	dst = binary.BigEndian.AppendUint64(dst, hash)
	dst = binary.BigEndian.AppendUint32(dst, pid)
	return binary.BigEndian.AppendUint64(dst, uint64(offset))
}

// entryPrefix is the prefix of every entry of one id in one epoch.
func entryPrefix(dst []byte, epoch uint32, kind byte, hash uint64) []byte {
	return binary.BigEndian.AppendUint64(appendHead(dst, epoch, kind), hash)
}

// parseKey splits a key's epoch and kind; ok is false for a short key.
func parseKey(k []byte) (epoch uint32, kind byte, ok bool) {
	if len(k) < 5 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(k), k[4], true
}

// parseEntryKey splits an entry key; ok is false for another length.
func parseEntryKey(k []byte) (pid uint32, offset int64, ok bool) {
	if len(k) != entryKeyLen {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(k[13:]), int64(binary.BigEndian.Uint64(k[17:])), true
}

func nextKey(epoch, pid uint32) []byte {
	return binary.BigEndian.AppendUint32(appendHead(nil, epoch, kindNext), pid)
}

func partitionKey(epoch uint32, pk partKey) []byte {
	return append(appendHead(nil, epoch, kindPartition), pk.bytes()...)
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

// kindRange is the [lower, upper) bounds of one kind's keys in one epoch.
func kindRange(epoch uint32, kind byte) (lower, upper []byte) {
	return appendHead(nil, epoch, kind), appendHead(nil, epoch, kind+1)
}

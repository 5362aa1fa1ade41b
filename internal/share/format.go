package share

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// StateTopic is the compacted internal topic that holds share-group state,
// as Kafka's share coordinator keeps __share_group_state.
const StateTopic = "__share_group_state"

// Record formats of StateTopic. Every integer is big-endian; a string is an
// int16 length then its bytes. Part of the persisted format; do not change.
//
//	share partition (key version 0): the state of one group's partition
//	  key:   int16 0 | string group | [16]byte topic id | int32 partition
//	  value: int16 0 | int64 start | int32 runs |
//	         runs × (int64 first | int32 length | int8 state | int16 count)
//	  A nil value (tombstone) deletes the state. Acquired records are
//	  written as Available: a lock does not survive a restart, its
//	  delivery count does.
//
//	group configs (key version 1): the dynamic configs of one group
//	  key:   int16 1 | string group
//	  value: int16 0 | int32 n | n × (string name | string value)
const (
	keyPartition int16 = 0
	keyConfigs   int16 = 1
)

var errShort = errors.New("share state record: short")

type wbuf []byte

func (b wbuf) i16(v int16) wbuf { return binary.BigEndian.AppendUint16(b, uint16(v)) }
func (b wbuf) i32(v int32) wbuf { return binary.BigEndian.AppendUint32(b, uint32(v)) }
func (b wbuf) i64(v int64) wbuf { return binary.BigEndian.AppendUint64(b, uint64(v)) }
func (b wbuf) str(s string) wbuf {
	return append(b.i16(int16(len(s))), s...)
}

type rbuf struct {
	b   []byte
	err error
}

func (r *rbuf) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.err = errShort
		return make([]byte, max(n, 0))
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
func (r *rbuf) i8() int8   { return int8(r.take(1)[0]) }
func (r *rbuf) i16() int16 { return int16(binary.BigEndian.Uint16(r.take(2))) }
func (r *rbuf) i32() int32 { return int32(binary.BigEndian.Uint32(r.take(4))) }
func (r *rbuf) i64() int64 { return int64(binary.BigEndian.Uint64(r.take(8))) }
func (r *rbuf) str() string {
	n := r.i16()
	return string(r.take(int(n)))
}

func partitionKey(k partKey) []byte {
	b := wbuf(nil).i16(keyPartition).str(k.group)
	b = append(b, k.topic[:]...)
	return b.i32(k.part)
}

func configsKey(group string) []byte { return wbuf(nil).i16(keyConfigs).str(group) }

// encodePartition is p's persisted value (see the format above).
func encodePartition(p *Partition) []byte {
	type run struct {
		first int64
		n     int32
		st    State
		count int16
	}
	var runs []run
	for i := range p.recs {
		st := p.recs[i].state
		if st == Acquired {
			st = Available
		}
		off, c := p.Start+int64(i), p.recs[i].count
		if n := len(runs); n > 0 && runs[n-1].st == st && runs[n-1].count == c {
			runs[n-1].n++
			continue
		}
		runs = append(runs, run{off, 1, st, c})
	}
	b := wbuf(nil).i16(0).i64(p.Start).i32(int32(len(runs)))
	for _, r := range runs {
		b = append(b.i64(r.first).i32(r.n), byte(r.st))
		b = b.i16(r.count)
	}
	return b
}

// maxInFlightDecoded bounds what a decoded record may claim, so that a
// damaged record cannot make replay allocate without limit.
const maxInFlightDecoded = 1 << 20

func decodePartition(v []byte) (*Partition, error) {
	r := &rbuf{b: v}
	if ver := r.i16(); r.err == nil && ver != 0 {
		return nil, fmt.Errorf("share partition value version %d", ver)
	}
	p := &Partition{Start: r.i64()}
	n := r.i32()
	for i := int32(0); i < n && r.err == nil; i++ {
		first, length, st, count := r.i64(), r.i32(), State(r.i8()), r.i16()
		if r.err != nil {
			break
		}
		if first != p.End() || length <= 0 || len(p.recs)+int(length) > maxInFlightDecoded {
			return nil, fmt.Errorf("share partition value: bad run at %d", first)
		}
		if st != Available && st != Acknowledged && st != Archived {
			return nil, fmt.Errorf("share partition value: bad state %d", st)
		}
		for j := int32(0); j < length; j++ {
			p.recs = append(p.recs, rec{state: st, count: count})
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	p.compact()
	return p, nil
}

func encodeConfigs(m map[string]string) []byte {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	b := wbuf(nil).i16(0).i32(int32(len(names)))
	for _, k := range names {
		b = b.str(k).str(m[k])
	}
	return b
}

func decodeConfigs(v []byte) (map[string]string, error) {
	r := &rbuf{b: v}
	if ver := r.i16(); r.err == nil && ver != 0 {
		return nil, fmt.Errorf("group configs value version %d", ver)
	}
	n := r.i32()
	m := map[string]string{}
	for i := int32(0); i < n && r.err == nil; i++ {
		k := r.str()
		m[k] = r.str()
	}
	return m, r.err
}

// decodedKey is a parsed StateTopic key.
type decodedKey struct {
	kind  int16
	group string
	part  partKey
}

func decodeKey(k []byte) (decodedKey, error) {
	r := &rbuf{b: k}
	d := decodedKey{kind: r.i16()}
	d.group = r.str()
	switch d.kind {
	case keyPartition:
		d.part.group = d.group
		copy(d.part.topic[:], r.take(16))
		d.part.part = r.i32()
	case keyConfigs:
	default:
		if r.err == nil {
			return d, fmt.Errorf("share state key version %d", d.kind)
		}
	}
	return d, r.err
}

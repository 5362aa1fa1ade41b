package txn

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/group"
)

// TopicName is the internal compacted topic that holds the transaction log.
const TopicName = "__transaction_state"

// Records of __transaction_state. The key's leading int16 says which:
//
//	key 0 (Kafka's)  version int16 = 0 | transactional id string
//	value            Kafka's TxnMetadataValue v0: producer id int64 | epoch int16 |
//	                 timeout int32 | state int8 | topics [topic, partitions] |
//	                 last update int64 | start int64
//	key 100          version int16 = 100                (the producer id block)
//	value            version int16 = 0 | block end int64
//	key 101          version int16 = 101 | transactional id string
//	value            JSON {"pid","epoch","groups":{group:[{"t","p","o","e","m"}]}}
//	                 the offsets TxnOffsetCommit stored in the open transaction;
//	                 a tombstone once the transaction ends
//
// The topic is compacted on the key, so the last record of each survives:
// the last block end, each transactional id's state, and its pending
// offsets until the tombstone.
const (
	keyTxnMeta  = 0   // part of the on-disk format; do not change
	keyPIDBlock = 100 // part of the on-disk format; do not change
	keyOffsets  = 101 // part of the on-disk format; do not change
)

// pidBlockSize is how many producer ids one block record reserves.
const pidBlockSize = 1000

func metaKey(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: keyTxnMeta, TransactionalID: id}
	return k.AppendTo(nil)
}

func metaValue(m *meta) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version, v.ProducerID, v.ProducerEpoch, v.TimeoutMillis = 0, m.pid, m.epoch, m.timeoutMs
	v.State, v.LastUpdateTimestamp, v.StartTimestamp = kmsg.TransactionState(m.state), m.updated, m.start
	for _, tp := range m.partitions() {
		if n := len(v.Topics); n > 0 && v.Topics[n-1].Topic == tp.Topic {
			v.Topics[n-1].Partitions = append(v.Topics[n-1].Partitions, tp.Partition)
			continue
		}
		v.Topics = append(v.Topics, kmsg.TxnMetadataValueTopic{Topic: tp.Topic, Partitions: []int32{tp.Partition}})
	}
	return v.AppendTo(nil)
}

func pidBlockKey() []byte { return binary.BigEndian.AppendUint16(nil, keyPIDBlock) }

func pidBlockValue(end int64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint16(nil, 0), uint64(end))
}

func offsetsKey(id string) []byte {
	b := binary.BigEndian.AppendUint16(nil, keyOffsets)
	b = binary.BigEndian.AppendUint16(b, uint16(len(id)))
	return append(b, id...)
}

type jsonOffset struct {
	T string `json:"t"`
	P int32  `json:"p"`
	O int64  `json:"o"`
	E int32  `json:"e"`
	M string `json:"m"`
}

type offsetsRecord struct {
	PID    int64                   `json:"pid"`
	Epoch  int16                   `json:"epoch"`
	Groups map[string][]jsonOffset `json:"groups"`
}

func offsetsValue(m *meta) []byte {
	r := offsetsRecord{PID: m.pid, Epoch: m.epoch, Groups: map[string][]jsonOffset{}}
	for g, offs := range m.offsets {
		list := []jsonOffset{}
		for tp, o := range offs {
			list = append(list, jsonOffset{T: tp.Topic, P: tp.Partition, O: o.Offset, E: o.LeaderEpoch, M: o.Metadata})
		}
		slices.SortFunc(list, func(a, b jsonOffset) int {
			if c := strings.Compare(a.T, b.T); c != 0 {
				return c
			}
			return int(a.P - b.P)
		})
		r.Groups[g] = list
	}
	b, _ := json.Marshal(r)
	return b
}

// logEntry is one decoded record of the transaction log.
type logEntry struct {
	kind     int16
	id       string
	meta     *meta          // kind keyTxnMeta; nil for a tombstone
	blockEnd int64          // kind keyPIDBlock
	offsets  *offsetsRecord // kind keyOffsets; nil for a tombstone
}

var errUnknownRecord = errors.New("unknown __transaction_state record")

func decodeLogEntry(key, value []byte) (logEntry, error) {
	if len(key) < 2 {
		return logEntry{}, fmt.Errorf("key of %d bytes", len(key))
	}
	e := logEntry{kind: int16(binary.BigEndian.Uint16(key))}
	switch e.kind {
	case keyTxnMeta:
		var k kmsg.TxnMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return e, err
		}
		e.id = k.TransactionalID
		if value == nil {
			return e, nil
		}
		var v kmsg.TxnMetadataValue
		if err := v.ReadFrom(value); err != nil {
			return e, err
		}
		m := &meta{id: e.id, pid: v.ProducerID, epoch: v.ProducerEpoch, timeoutMs: v.TimeoutMillis,
			state: State(v.State), updated: v.LastUpdateTimestamp, start: v.StartTimestamp}
		for _, t := range v.Topics {
			for _, p := range t.Partitions {
				m.addPartition(group.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
		e.meta = m
	case keyPIDBlock:
		if len(value) != 10 {
			return e, fmt.Errorf("producer id block value of %d bytes", len(value))
		}
		e.blockEnd = int64(binary.BigEndian.Uint64(value[2:]))
	case keyOffsets:
		if len(key) < 4 || len(key) != 4+int(binary.BigEndian.Uint16(key[2:])) {
			return e, fmt.Errorf("pending offsets key of %d bytes", len(key))
		}
		e.id = string(key[4:])
		if value != nil {
			e.offsets = new(offsetsRecord)
			if err := json.Unmarshal(value, e.offsets); err != nil {
				return e, err
			}
		}
	default:
		return e, errUnknownRecord
	}
	return e, nil
}

func (r *offsetsRecord) toMap() map[string]map[group.TopicPartition]group.Offset {
	out := map[string]map[group.TopicPartition]group.Offset{}
	for g, list := range r.Groups {
		m := map[group.TopicPartition]group.Offset{}
		for _, o := range list {
			m[group.TopicPartition{Topic: o.T, Partition: o.P}] = group.Offset{Offset: o.O, LeaderEpoch: o.E, Metadata: o.M}
		}
		out[g] = m
	}
	return out
}

package group

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The __consumer_offsets topic holds one record per committed offset and
// one per group, in Kafka's formats, so that Kafka tools can read it:
//
//	key (offset commit)    version int16 = 1 | group string | topic string | partition int32
//	value (offset commit)  version int16 = 3 | offset int64 | leader epoch int32 |
//	                       metadata string | commit timestamp int64
//	key (group metadata)   version int16 = 2 | group string
//	value (group metadata) version int16 = 3 | protocol type string | generation int32 |
//	                       protocol nullable string | leader nullable string |
//	                       state timestamp int64 | members [member id, instance id,
//	                       client id, client host, rebalance timeout, session timeout,
//	                       subscription bytes, assignment bytes]
//
// (strings are int16-length prefixed, bytes int32). A null value is a
// tombstone: the offset or group was deleted. The topic is compacted on
// the key, so the last record per key is what survives.

// part of the wire format; do not change.
const (
	offsetKeyVersion   = 1
	groupKeyVersion    = 2
	offsetValueVersion = 3
	groupValueVersion  = 3
)

// OffsetsTopic is the internal topic that holds commits and group metadata.
const OffsetsTopic = "__consumer_offsets"

// Offset is one committed offset.
type Offset struct {
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	CommitTime  int64 // ms since epoch
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func offsetKey(group string, p TopicPartition) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: p.Topic, Partition: p.Partition}
	return k.AppendTo(nil)
}

func offsetValue(o Offset) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version, v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = offsetValueVersion, o.Offset, o.LeaderEpoch, o.Metadata, o.CommitTime
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

func groupValue(s *Snapshot) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version, v.ProtocolType, v.Generation, v.CurrentStateTimestamp = groupValueVersion, s.ProtocolType, s.Generation, s.StateTime
	if s.Protocol != "" {
		v.Protocol, v.Leader = kmsg.StringPtr(s.Protocol), kmsg.StringPtr(s.Leader)
	}
	for _, m := range s.Members {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.ClientID, vm.ClientHost = m.ID, m.ClientID, m.ClientHost
		if m.InstanceID != "" {
			vm.InstanceID = kmsg.StringPtr(m.InstanceID)
		}
		vm.RebalanceTimeoutMillis, vm.SessionTimeoutMillis = int32(m.Rebalance.Milliseconds()), int32(m.Session.Milliseconds())
		vm.Subscription, vm.Assignment = m.Subscription, m.Assignment
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

// entryRecord is one decoded record of the offsets topic.
type entryRecord struct {
	group  string
	tp     TopicPartition
	isMeta bool
	offset *Offset   // nil: tombstone (offset records)
	meta   *Snapshot // nil: tombstone (group records)
}

var errUnknownKey = errors.New("unknown __consumer_offsets key version")

func decodeEntry(key, value []byte) (entryRecord, error) {
	if len(key) < 2 {
		return entryRecord{}, fmt.Errorf("key of %d bytes", len(key))
	}
	switch ver := int16(key[0])<<8 | int16(key[1]); ver {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return entryRecord{}, err
		}
		e := entryRecord{group: k.Group, tp: TopicPartition{k.Topic, k.Partition}}
		if value != nil {
			var v kmsg.OffsetCommitValue
			if err := v.ReadFrom(value); err != nil {
				return entryRecord{}, err
			}
			e.offset = &Offset{Offset: v.Offset, LeaderEpoch: v.LeaderEpoch, Metadata: v.Metadata, CommitTime: v.CommitTimestamp}
			if v.Version < 3 {
				e.offset.LeaderEpoch = -1
			}
		}
		return e, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return entryRecord{}, err
		}
		e := entryRecord{group: k.Group, isMeta: true}
		if value != nil {
			var v kmsg.GroupMetadataValue
			if err := v.ReadFrom(value); err != nil {
				return entryRecord{}, err
			}
			e.meta = snapshotOf(&v)
		}
		return e, nil
	default:
		return entryRecord{}, fmt.Errorf("%w %d", errUnknownKey, ver)
	}
}

func snapshotOf(v *kmsg.GroupMetadataValue) *Snapshot {
	s := &Snapshot{ProtocolType: v.ProtocolType, Generation: v.Generation, StateTime: v.CurrentStateTimestamp}
	if v.Protocol != nil {
		s.Protocol = *v.Protocol
	}
	if v.Leader != nil {
		s.Leader = *v.Leader
	}
	for _, m := range v.Members {
		sm := SnapshotMember{ID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost,
			Rebalance: ms(m.RebalanceTimeoutMillis), Session: ms(m.SessionTimeoutMillis),
			Subscription: m.Subscription, Assignment: m.Assignment}
		if m.InstanceID != nil {
			sm.InstanceID = *m.InstanceID
		}
		s.Members = append(s.Members, sm)
	}
	return s
}

package metadata

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/heraldhq/herald/internal/vfs"
)

// SnapshotName is the metadata snapshot's name inside the data dir.
const SnapshotName = "herald-metadata.snapshot"

// Snapshot layout; part of the file format, do not change.
const (
	snapMagic  = "HRLDMSN1"
	snapHeader = 24 // magic 8, log bytes 8, payload length 4, crc 4
)

// snapshot is the decoded snapshot file.
type snapshot struct {
	// LogBytes is how long the log was when the snapshot was written:
	// the snapshot's state is the log's state after that many bytes.
	LogBytes  int64       `json:"-"`
	ClusterID string      `json:"cluster_id,omitempty"`
	Topics    []snapTopic `json:"topics"`
	ACLs      []ACL       `json:"acls,omitempty"`
	Scram     []Scram     `json:"scram,omitempty"`
	Quotas    []Quota     `json:"quotas,omitempty"`
	// BrokerConfigs is sorted by scope.
	BrokerConfigs []BrokerConfigs `json:"broker_configs,omitempty"`
	// GroupConfigs is sorted by group.
	GroupConfigs []GroupConfigs `json:"group_configs,omitempty"`
}

type snapTopic struct {
	Name       string            `json:"name"`
	ID         TopicID           `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

func (s *snapshot) state() *State {
	st := &State{ClusterID: s.ClusterID, Topics: make(map[string]*Topic, len(s.Topics)), ACLs: s.ACLs, Quotas: s.Quotas}
	for _, t := range s.Topics {
		st.Topics[t.Name] = &Topic{Name: t.Name, ID: t.ID, Partitions: t.Partitions, Configs: t.Configs}
	}
	for _, bc := range s.BrokerConfigs {
		st.applyBrokerConfigs(Record{BrokerConfigs: &bc})
	}
	for _, gc := range s.GroupConfigs {
		st.applyGroupConfigs(Record{GroupConfigs: &gc})
	}
	for _, c := range s.Scram {
		if st.Scram == nil {
			st.Scram = make(map[ScramKey]Scram)
		}
		st.Scram[ScramKey{c.User, c.Mechanism}] = c
	}
	return st
}

func encodeSnapshot(st *State, logBytes int64) ([]byte, error) {
	s := snapshot{ClusterID: st.ClusterID, Topics: []snapTopic{}, ACLs: st.ACLs, Quotas: st.Quotas}
	for _, t := range st.sorted() {
		s.Topics = append(s.Topics, snapTopic{Name: t.Name, ID: t.ID, Partitions: t.Partitions, Configs: t.Configs})
	}
	s.Scram = st.scramSorted()
	s.BrokerConfigs = st.brokerConfigsSorted()
	s.GroupConfigs = st.groupConfigsSorted()
	payload, err := json.Marshal(&s)
	if err != nil {
		return nil, err
	}
	b := make([]byte, snapHeader, snapHeader+len(payload))
	copy(b, snapMagic)
	binary.BigEndian.PutUint64(b[8:], uint64(logBytes))
	binary.BigEndian.PutUint32(b[16:], uint32(len(payload)))
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[20:], snapCRC(b))
	return b, nil
}

// snapCRC is the CRC-32C of everything but the crc field.
func snapCRC(b []byte) uint32 {
	c := crc32.Update(0, castagnoli, b[:20])
	return crc32.Update(c, castagnoli, b[snapHeader:])
}

var errBadSnapshot = errors.New("bad metadata snapshot")

func decodeSnapshot(b []byte) (*snapshot, error) {
	if len(b) < snapHeader || string(b[:8]) != snapMagic {
		return nil, fmt.Errorf("%w: no snapshot header", errBadSnapshot)
	}
	n := binary.BigEndian.Uint32(b[16:])
	if int64(n) != int64(len(b)-snapHeader) {
		return nil, fmt.Errorf("%w: payload length %d but %d bytes follow the header", errBadSnapshot, n, len(b)-snapHeader)
	}
	if snapCRC(b) != binary.BigEndian.Uint32(b[20:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errBadSnapshot)
	}
	var s snapshot
	dec := json.NewDecoder(bytes.NewReader(b[snapHeader:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadSnapshot, err)
	}
	s.LogBytes = int64(binary.BigEndian.Uint64(b[8:]))
	if s.LogBytes < 0 {
		return nil, fmt.Errorf("%w: log length %d", errBadSnapshot, s.LogBytes)
	}
	return &s, nil
}

// writeSnapshot replaces the snapshot with st, the log's state after its
// first logBytes bytes, atomically.
func writeSnapshot(fs vfs.FS, dir string, st *State, logBytes int64) error {
	b, err := encodeSnapshot(st, logBytes)
	if err != nil {
		return fmt.Errorf("metadata: encode snapshot: %w", err)
	}
	if err := writeFileAtomic(fs, dir, SnapshotName, b); err != nil {
		return fmt.Errorf("metadata: write snapshot: %w", err)
	}
	return nil
}

package metadata

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/heraldhq/herald/internal/vfs"
)

// FileName is the metadata log's name inside the data dir.
const FileName = "herald-metadata.log"

// frameHeader is the size of a frame's length and crc; part of the file
// format, do not change.
const frameHeader = 8

// maxPayload bounds one record so that a corrupt length cannot make Open
// allocate without limit.
const maxPayload = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record types. Part of the file format; do not change.
const (
	CreateTopic   = "create_topic"   // Topic, ID, Partitions, Configs
	DeleteTopic   = "delete_topic"   // ID
	SetConfigs    = "set_configs"    // ID, Configs (replaces the whole set)
	AddPartitions = "add_partitions" // ID, Partitions (the new total)
	SetClusterID  = "set_cluster_id" // ClusterID, written once when the data dir is new
)

// TopicID is a topic's UUID.
type TopicID [16]byte

// String formats the id as 32 hex digits.
func (id TopicID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText encodes the id as hex.
func (id TopicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes a hex id.
func (id *TopicID) UnmarshalText(b []byte) error {
	if len(b) != 32 {
		return fmt.Errorf("topic id %q: want 32 hex digits", b)
	}
	_, err := hex.Decode(id[:], b)
	return err
}

// Record is one change to the metadata.
type Record struct {
	Type       string            `json:"type"`
	Topic      string            `json:"topic,omitempty"`
	ID         TopicID           `json:"id"`
	Partitions int32             `json:"partitions,omitempty"`
	Configs    map[string]string `json:"configs,omitempty"`
	ClusterID  string            `json:"cluster_id,omitempty"`
	ACLs       []ACL             `json:"acls,omitempty"`   // CreateACLs, DeleteACLs
	Scram      *Scram            `json:"scram,omitempty"`  // SetScram, DeleteScram
	Quotas     []Quota           `json:"quotas,omitempty"` // SetQuotas
	// BrokerConfigs is one scope's dynamic broker configs (SetBrokerConfigs).
	BrokerConfigs *BrokerConfigs `json:"broker_configs,omitempty"`
	// GroupConfigs is one consumer group's configs (SetGroupConfigs).
	GroupConfigs *GroupConfigs `json:"group_configs,omitempty"`
}

// Topic is the replayed state of one topic.
type Topic struct {
	Name       string
	ID         TopicID
	Partitions int32
	Configs    map[string]string // only the configs set on the topic
}

// State is the metadata after replaying the log.
type State struct {
	ClusterID string
	Topics    map[string]*Topic // by name
	ACLs      []ACL             // sorted by CompareACL, no duplicates
	Scram     map[ScramKey]Scram
	Quotas    []Quota // sorted by CompareQuota, one per entity
	// BrokerConfigs is the dynamic broker configs by scope ("" for the
	// cluster default, else a node id); no scope is empty.
	BrokerConfigs map[string]map[string]string
	// GroupConfigs is the consumer group configs by group; none is empty.
	GroupConfigs map[string]map[string]string
}

// Apply changes the state by one record. Records about unknown topics are
// ignored: they cannot happen unless the file was edited.
func (s *State) Apply(r Record) error {
	if s.Topics == nil {
		s.Topics = make(map[string]*Topic)
	}
	if ok, err := s.applyScram(r); ok {
		return err
	}
	switch r.Type {
	case SetClusterID:
		s.ClusterID = r.ClusterID
		return nil
	case CreateTopic:
		s.Topics[r.Topic] = &Topic{Name: r.Topic, ID: r.ID, Partitions: r.Partitions, Configs: r.Configs}
		return nil
	case CreateACLs, DeleteACLs:
		s.applyACLs(r)
		return nil
	case SetQuotas:
		s.applyQuotas(r)
		return nil
	case SetBrokerConfigs:
		s.applyBrokerConfigs(r)
		return nil
	case SetGroupConfigs:
		s.applyGroupConfigs(r)
		return nil
	}
	t := s.byID(r.ID)
	if t == nil {
		return nil
	}
	switch r.Type {
	case DeleteTopic:
		delete(s.Topics, t.Name)
	case SetConfigs:
		t.Configs = r.Configs
	case AddPartitions:
		t.Partitions = r.Partitions
	default:
		return fmt.Errorf("unknown metadata record type %q", r.Type)
	}
	return nil
}

func (s *State) byID(id TopicID) *Topic {
	for _, t := range s.Topics {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// Clone returns a deep copy of s.
func (s *State) Clone() *State {
	c := &State{ClusterID: s.ClusterID, Topics: make(map[string]*Topic, len(s.Topics)), ACLs: slices.Clone(s.ACLs), Quotas: cloneQuotas(s.Quotas),
		BrokerConfigs: cloneBrokerConfigs(s.BrokerConfigs), GroupConfigs: cloneBrokerConfigs(s.GroupConfigs)}
	for n, t := range s.Topics {
		ct := *t
		ct.Configs = maps.Clone(t.Configs)
		c.Topics[n] = &ct
	}
	if s.Scram != nil {
		c.Scram = maps.Clone(s.Scram) // values share byte slices, which are never modified
	}
	return c
}

// Equal reports whether s and o hold the same cluster id, topics, ACLs
// quotas, dynamic broker configs and group configs.
func (s *State) Equal(o *State) bool {
	if s.ClusterID != o.ClusterID || len(s.Topics) != len(o.Topics) || !slices.Equal(s.ACLs, o.ACLs) || !scramEqual(s.Scram, o.Scram) || !equalQuotas(s.Quotas, o.Quotas) ||
		!equalBrokerConfigs(s.BrokerConfigs, o.BrokerConfigs) || !equalBrokerConfigs(s.GroupConfigs, o.GroupConfigs) {
		return false
	}
	for n, t := range s.Topics {
		u := o.Topics[n]
		if u == nil || t.Name != u.Name || t.ID != u.ID || t.Partitions != u.Partitions || !maps.Equal(t.Configs, u.Configs) {
			return false
		}
	}
	return true
}

// Log is the open metadata log and its snapshot. Append is safe for
// concurrent use.
type Log struct {
	fs     vfs.FS
	dir    string
	path   string
	logger *slog.Logger
	mu     struct {
		sync.Mutex
		f   vfs.File
		buf []byte
		// size is the log's length: every byte before it is a whole,
		// fsynced frame.
		size int64
		// st is the state after the first size bytes; the snapshot is
		// written from it.
		st *State
		// broken is set when a failed Append could not be undone: the
		// file's tail is unknown until the next Open.
		broken error
	}
}

// Open opens the metadata log in dir (creating dir, the log and its
// snapshot when the dir is new), replays it and returns the state. It
// applies the recovery rules of the package doc: a torn tail is cut and
// logged; damage that is not a torn tail, or a log that lost what its
// snapshot holds, or a missing log in a dir that has data, is refused with
// an error that errors.Is(err, ErrCorrupt) and nothing is changed.
func Open(fs vfs.FS, dir string, logger *slog.Logger) (*Log, *State, error) {
	if err := fs.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	d, err := inspect(fs, dir)
	if err != nil {
		return nil, nil, err
	}
	if err := d.refusal(); err != nil {
		return nil, nil, err
	}
	if d.snapErr != nil {
		logger.Warn("metadata snapshot is damaged; writing it again from the metadata log", "path", d.snapPath, "err", d.snapErr)
	}
	st := d.scan.st
	if d.scan.records > 2*(len(st.Topics)+len(st.Scram))+compactSlack {
		if err := writeLog(fs, dir, st); err != nil {
			return nil, nil, err
		}
		d.data, d.scan.good = nil, -1 // re-read below
	}
	f, err := fs.OpenFile(d.path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	size, err := fileSize(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	good := int64(d.scan.good)
	if good < 0 {
		good = size // the file we just rewrote: nothing torn in it
	}
	if good < size {
		logger.Warn("metadata log: cutting a torn tail (a write that was never acknowledged)", "path", d.path, "valid_bytes", good, "dropped_bytes", size-good)
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("metadata: truncate: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("metadata: sync: %w", err)
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	if err := fs.SyncDir(dir); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("metadata: sync dir: %w", err)
	}
	if err := writeSnapshot(fs, dir, st, good); err != nil {
		// The log is what counts, and a full disk must not keep the
		// broker from starting; the next change or start tries again.
		logger.Error("metadata: write snapshot", "dir", dir, "err", err)
	}
	l := &Log{fs: fs, dir: dir, path: d.path, logger: logger}
	l.mu.f, l.mu.size, l.mu.st = f, good, st
	return l, st.Clone(), nil
}

// compactSlack is how many records beyond two per live topic the log may
// hold before Open rewrites it as one record per topic.
const compactSlack = 64

// writeLog replaces the log with the records that rebuild st: the cluster
// id and one create per topic. It writes a temporary file, fsyncs it and
// renames it over the log, so a crash leaves the old or the new file.
func writeLog(fs vfs.FS, dir string, st *State) error {
	buf, err := encodeLog(st)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(fs, dir, FileName, buf); err != nil {
		return fmt.Errorf("metadata: rewrite log: %w", err)
	}
	return nil
}

// encodeLog returns the log that rebuilds st: the cluster id, one record
// with every ACL, one with every client quota, one per dynamic broker
// config scope, one per configured group, and one create per topic.
func encodeLog(st *State) ([]byte, error) {
	var buf []byte
	var err error
	if st.ClusterID != "" {
		if buf, err = AppendFrame(buf, Record{Type: SetClusterID, ClusterID: st.ClusterID}); err != nil {
			return nil, err
		}
	}
	if len(st.ACLs) > 0 {
		if buf, err = AppendFrame(buf, Record{Type: CreateACLs, ACLs: st.ACLs}); err != nil {
			return nil, err
		}
	}
	if len(st.Quotas) > 0 {
		if buf, err = AppendFrame(buf, Record{Type: SetQuotas, Quotas: st.Quotas}); err != nil {
			return nil, err
		}
	}
	for _, bc := range st.brokerConfigsSorted() {
		if buf, err = AppendFrame(buf, Record{Type: SetBrokerConfigs, BrokerConfigs: &bc}); err != nil {
			return nil, err
		}
	}
	for _, gc := range st.groupConfigsSorted() {
		if buf, err = AppendFrame(buf, Record{Type: SetGroupConfigs, GroupConfigs: &gc}); err != nil {
			return nil, err
		}
	}
	for _, t := range st.sorted() {
		rec := Record{Type: CreateTopic, Topic: t.Name, ID: t.ID, Partitions: t.Partitions, Configs: t.Configs}
		if buf, err = AppendFrame(buf, rec); err != nil {
			return nil, err
		}
	}
	for _, c := range st.scramSorted() {
		if buf, err = AppendFrame(buf, Record{Type: SetScram, Scram: &c}); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// writeFileAtomic replaces dir/name with data: a temporary file, fsync,
// rename, fsync of the dir. A crash leaves the old file or the new one.
func writeFileAtomic(fs vfs.FS, dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := fs.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Rename(tmp, filepath.Join(dir, name))
	}
	if err == nil {
		err = fs.SyncDir(dir)
	}
	return err
}

func (s *State) sorted() []*Topic {
	out := make([]*Topic, 0, len(s.Topics))
	for _, t := range s.Topics {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *Topic) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func fileSize(f vfs.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("metadata: %w", err)
	}
	return fi.Size(), nil
}

// errTorn ends a replay at a frame that is cut short or fails its checksum.
var errTorn = errors.New("torn frame")

// Replay calls apply for every whole, checksummed frame in data and returns
// the length of the valid prefix. An error from apply stops the replay and
// is returned; a torn or corrupt frame just ends it.
func Replay(data []byte, apply func(Record) error) (int, error) {
	pos := 0
	for pos < len(data) {
		r, n, err := decodeFrame(data[pos:])
		if errors.Is(err, errTorn) {
			return pos, nil
		}
		if err != nil {
			return pos, err
		}
		if err := apply(r); err != nil {
			return pos, err
		}
		pos += n
	}
	return pos, nil
}

func decodeFrame(b []byte) (Record, int, error) {
	var r Record
	if len(b) < frameHeader {
		return r, 0, errTorn
	}
	n := binary.BigEndian.Uint32(b)
	if n > maxPayload || int(n) > len(b)-frameHeader {
		return r, 0, errTorn
	}
	payload := b[frameHeader : frameHeader+int(n)]
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return r, 0, errTorn
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, 0, errTorn
	}
	return r, frameHeader + int(n), nil
}

// AppendFrame appends r's frame to dst.
func AppendFrame(dst []byte, r Record) ([]byte, error) {
	payload, err := json.Marshal(r)
	if err != nil {
		return dst, err
	}
	var hdr [frameHeader]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(payload)))
	binary.BigEndian.PutUint32(hdr[4:], crc32.Checksum(payload, castagnoli))
	dst = append(dst, hdr[:]...)
	return append(dst, payload...), nil
}

// Append writes r, fsyncs, and then rewrites the snapshot; when it returns
// nil the record survives a crash. When it fails, the log is cut back to
// where it was, so that a record reported as failed never comes back at
// the next Open; if even that fails, every later Append fails too.
func (l *Log) Append(r Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.f == nil {
		return errors.New("metadata: log closed")
	}
	if l.mu.broken != nil {
		return fmt.Errorf("metadata: log unusable until restart: %w", l.mu.broken)
	}
	next := l.mu.st.Clone()
	if err := next.Apply(r); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	var err error
	l.mu.buf, err = AppendFrame(l.mu.buf[:0], r)
	if err != nil {
		return fmt.Errorf("metadata: encode: %w", err)
	}
	if _, err = l.mu.f.Write(l.mu.buf); err == nil {
		err = l.mu.f.Sync()
	}
	if err != nil {
		l.undoLocked()
		return fmt.Errorf("metadata: append to %s: %w", l.path, err)
	}
	l.mu.size += int64(len(l.mu.buf))
	l.mu.st = next
	if err := writeSnapshot(l.fs, l.dir, next, l.mu.size); err != nil {
		// The record is durable in the log, which is what counts; the
		// next Open writes the snapshot again.
		l.logger.Error("metadata: write snapshot", "dir", l.dir, "err", err)
	}
	return nil
}

// undoLocked cuts the log back to its last good length after a failed
// append. mu must be held.
func (l *Log) undoLocked() {
	err := l.mu.f.Truncate(l.mu.size)
	if err == nil {
		err = l.mu.f.Sync()
	}
	if err == nil {
		_, err = l.mu.f.Seek(l.mu.size, io.SeekStart)
	}
	if err != nil {
		l.mu.broken = err
		l.logger.Error("metadata: cannot undo a failed append; later changes fail until restart", "path", l.path, "err", err)
	}
}

// ACLs returns a copy of the ACLs the log holds, sorted by CompareACL.
func (l *Log) ACLs() []ACL {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.mu.st.ACLs)
}

// Close closes the file; it is idempotent.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.f == nil {
		return nil
	}
	err := l.mu.f.Close()
	l.mu.f = nil
	return err
}

// Package metadata keeps the cluster's topic metadata (names, topic ids,
// partition counts, configs) in an append-only log of checksummed records in
// the data dir. The log is replayed at start, so a restart finds every topic
// and config; later it can be replicated as it is.
//
// The file <data-dir>/herald-metadata.log is a sequence of frames:
//
//	offset  size  field
//	     0     4  length    bytes of payload (big-endian)
//	     4     4  crc       CRC-32C of payload
//	     8     n  payload   one Record as JSON
//
// A frame that is cut short or fails its checksum at the end of the file is
// a torn write: Open truncates it and everything after it. Every Append is
// fsynced before it returns, so a torn frame was never acknowledged.
//
// Usage:
//
//	ml, st, err := metadata.Open(vfs.Default, dataDir, logger)
//	if err != nil { ... }
//	for name, t := range st.Topics { ... }
//	err = ml.Append(metadata.Record{Type: metadata.CreateTopic, Topic: "orders", ID: id, Partitions: 3})
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
	"os"
	"path/filepath"
	"slices"
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
}

// Apply changes the state by one record. Records about unknown topics are
// ignored: they cannot happen unless the file was edited.
func (s *State) Apply(r Record) error {
	if s.Topics == nil {
		s.Topics = make(map[string]*Topic)
	}
	switch r.Type {
	case SetClusterID:
		s.ClusterID = r.ClusterID
		return nil
	case CreateTopic:
		s.Topics[r.Topic] = &Topic{Name: r.Topic, ID: r.ID, Partitions: r.Partitions, Configs: r.Configs}
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

// Log is the open metadata log. Append is safe for concurrent use.
type Log struct {
	fs   vfs.FS
	path string
	mu   struct {
		sync.Mutex
		f   vfs.File
		buf []byte
	}
}

// Open opens (creating if needed) the metadata log in dir, replays it and
// returns the state. A torn tail is truncated and logged.
func Open(fs vfs.FS, dir string, logger *slog.Logger) (*Log, *State, error) {
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	path := filepath.Join(dir, FileName)
	f, err := fs.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("metadata: read %s: %w", path, err)
	}
	st := &State{Topics: make(map[string]*Topic)}
	nrec := 0
	good, err := Replay(data, func(r Record) error { nrec++; return st.Apply(r) })
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("metadata: replay %s: %w", path, err)
	}
	if nrec > 2*len(st.Topics)+compactSlack {
		f.Close()
		if err := rewrite(fs, dir, st); err != nil {
			return nil, nil, err
		}
		if f, err = fs.OpenFile(path, os.O_RDWR, 0o644); err != nil {
			return nil, nil, fmt.Errorf("metadata: %w", err)
		}
		if good, err = fileSize(f); err != nil {
			f.Close()
			return nil, nil, err
		}
		data = data[:good] // nothing torn in a file we just wrote
	}
	if good < len(data) {
		logger.Warn("metadata log: truncating torn tail", "path", path, "valid_bytes", good, "dropped_bytes", len(data)-good)
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("metadata: truncate: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("metadata: sync: %w", err)
		}
	}
	if _, err := f.Seek(int64(good), io.SeekStart); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	if err := fs.SyncDir(dir); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("metadata: sync dir: %w", err)
	}
	l := &Log{fs: fs, path: path}
	l.mu.f = f
	return l, st, nil
}

// compactSlack is how many records beyond two per live topic the log may
// hold before Open rewrites it as one record per topic.
const compactSlack = 64

// rewrite replaces the log with the records that rebuild st: the cluster
// id and one create per topic. It writes a temporary file, fsyncs it and
// renames it over the log, so a crash leaves the old or the new file.
func rewrite(fs vfs.FS, dir string, st *State) error {
	var buf []byte
	var err error
	if st.ClusterID != "" {
		if buf, err = AppendFrame(buf, Record{Type: SetClusterID, ClusterID: st.ClusterID}); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(st.Topics))
	for n := range st.Topics {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t := st.Topics[n]
		rec := Record{Type: CreateTopic, Topic: t.Name, ID: t.ID, Partitions: t.Partitions, Configs: t.Configs}
		if buf, err = AppendFrame(buf, rec); err != nil {
			return err
		}
	}
	tmp := filepath.Join(dir, FileName+".tmp")
	f, err := fs.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("metadata: rewrite: %w", err)
	}
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Rename(tmp, filepath.Join(dir, FileName))
	}
	if err == nil {
		err = fs.SyncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("metadata: rewrite: %w", err)
	}
	return nil
}

func fileSize(f vfs.File) (int, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("metadata: %w", err)
	}
	return int(fi.Size()), nil
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

// Append writes r and fsyncs; when it returns nil the record survives a
// crash. After an error the log must not be used again (the file's tail is
// unknown until the next Open).
func (l *Log) Append(r Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.f == nil {
		return errors.New("metadata: log closed")
	}
	var err error
	l.mu.buf, err = AppendFrame(l.mu.buf[:0], r)
	if err != nil {
		return fmt.Errorf("metadata: encode: %w", err)
	}
	if _, err := l.mu.f.Write(l.mu.buf); err != nil {
		return fmt.Errorf("metadata: write: %w", err)
	}
	if err := l.mu.f.Sync(); err != nil {
		return fmt.Errorf("metadata: sync: %w", err)
	}
	return nil
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

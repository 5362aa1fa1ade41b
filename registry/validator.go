package registry

import (
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
)

// Errors Validator.Check returns; the broker answers them with
// INVALID_RECORD. They are sentinels, so a check allocates nothing.
var (
	// ErrNoSchemaID: the value does not start with magic byte 0 and a
	// 4-byte schema id.
	ErrNoSchemaID = errors.New("registry: record value does not carry a schema id (magic byte 0 + 4-byte id)")
	// ErrSchemaNotRegistered: the id is not registered under the topic's
	// value subject "<topic>-value".
	ErrSchemaNotRegistered = errors.New("registry: record value's schema id is not registered for the topic's value subject")
)

// Validator is the broker-side schema check for topics with
// herald.schema.validation=true. It is safe for concurrent use.
//
// It answers from a snapshot of the registry's in-memory state, rebuilt
// after every write to the registry (the first Check after a write pays
// for it); a Check that hits the snapshot does not allocate.
type Validator struct {
	s       *Server
	buildMu sync.Mutex // serializes rebuilds
	snap    atomic.Pointer[validatorSnapshot]
}

// validatorSnapshot maps a topic to the ids registered under its value
// subject. Immutable once published.
type validatorSnapshot struct {
	gen    uint64
	topics map[string]map[uint32]struct{}
}

// Validator returns a Validator over s's schemas.
func (s *Server) Validator() *Validator { return &Validator{s: s} }

// Check reports whether value may be produced to topic: it must be in
// the Confluent wire format (magic byte 0, 4-byte big-endian schema id,
// payload) with an id registered under the subject "<topic>-value" by a
// version that is not permanently deleted (soft-deleted versions still
// count, so producers holding a cached id keep working until a permanent
// delete). A nil value, a tombstone, carries no data and always passes.
func (v *Validator) Check(topic string, value []byte) error {
	if value == nil {
		return nil
	}
	if len(value) < 5 || value[0] != 0 {
		return ErrNoSchemaID
	}
	ids := v.snapshot().topics[topic]
	if _, ok := ids[binary.BigEndian.Uint32(value[1:5])]; !ok {
		return ErrSchemaNotRegistered
	}
	return nil
}

func (v *Validator) snapshot() *validatorSnapshot {
	gen := v.s.gen.Load()
	if sn := v.snap.Load(); sn != nil && sn.gen == gen {
		return sn
	}
	v.buildMu.Lock()
	defer v.buildMu.Unlock()
	if sn := v.snap.Load(); sn != nil && sn.gen == v.s.gen.Load() {
		return sn
	}
	sn := v.build()
	v.snap.Store(sn)
	return sn
}

func (v *Validator) build() *validatorSnapshot {
	v.s.mu.RLock()
	defer v.s.mu.RUnlock()
	sn := &validatorSnapshot{gen: v.s.gen.Load(), topics: map[string]map[uint32]struct{}{}}
	for subject, vs := range v.s.st.subjects {
		topic, ok := strings.CutSuffix(subject, "-value")
		if !ok {
			continue
		}
		ids := make(map[uint32]struct{}, len(vs))
		for _, ver := range vs {
			ids[uint32(ver.ID)] = struct{}{}
		}
		sn.topics[topic] = ids
	}
	return sn
}

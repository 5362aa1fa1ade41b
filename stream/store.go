package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble"
)

// A store's pebble database holds (part of the format; do not change):
//
//	0x00 "changelog"   -> uint64 big endian: the changelog offset to restore from
//	0x01 <key bytes>   -> value bytes
//
// The checkpoint is written in the same batch as the values it covers, so
// after a crash the database is the changelog's prefix up to its
// checkpoint, never more and never less.
const (
	metaPrefix = 0x00
	dataPrefix = 0x01
)

var checkpointKey = []byte{metaPrefix, 'c', 'h', 'a', 'n', 'g', 'e', 'l', 'o', 'g'}

// kvStore is one task's partition of a state store: a pebble database, a
// cache of the writes since the last commit, and the changelog partition
// that backs it.
//
// Writes go to the cache (the latest value per key), marked dirty. At commit the App
// produces the cache to the changelog (one record per key, however often
// it changed), waits for the changelog and outputs to be acknowledged,
// then writes the cache and the new checkpoint to pebble in one batch
// (commitLocal). Reads see the cache first. So pebble never holds a value
// the changelog lacks, and restoring replays the changelog from the
// checkpoint. Committed entries stay in the cache, clean, and reads of
// keys not cached are cached, up to cacheMax entries: a key read and
// written again after a commit (a count's) goes to pebble once, not once
// per commit.
type kvStore struct {
	name      string
	changelog string // physical topic
	partition int32
	db        *pebble.DB
	closed    bool // only the task's goroutine closes

	mu struct {
		sync.Mutex
		// cache holds the writes since the last commit (dirty) and
		// committed values (clean, as pebble has them).
		cache map[string]*dirtyValue
		dirty int // entries of cache that are dirty
		// ix orders the dirty entries for scans; nil unless the store's
		// processor scans per record (indexWrites; see dirtyIndex).
		ix *dirtyIndex
		// acked is one past the highest changelog offset acknowledged,
		// updated by produce callbacks; the next checkpoint.
		acked int64
	}
}

type dirtyValue struct {
	v     []byte
	del   bool
	dirty bool // written since the last commit
	local bool // a delete for pebble only, not the changelog (deleteLocal)
}

// cacheMax bounds a store's cache: reads add clean entries only below
// it, and a commit that leaves more drops the clean ones.
const cacheMax = 50_000

// quietLogger keeps pebble's informational lines out of the App's output.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf(format, args...)
}

func openKVStore(dir, name, changelog string, partition int32) (*kvStore, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}, MemTableSize: 16 << 20})
	if err != nil {
		return nil, fmt.Errorf("store %s: open %s: %w", name, dir, err)
	}
	s := &kvStore{name: name, changelog: changelog, partition: partition, db: db}
	s.mu.cache = map[string]*dirtyValue{}
	cp, err := s.checkpoint()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.mu.acked = cp
	return s, nil
}

// checkpoint reads the changelog offset to restore from (0: the start).
func (s *kvStore) checkpoint() (int64, error) {
	v, c, err := s.db.Get(checkpointKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store %s: read checkpoint: %w", s.name, err)
	}
	defer c.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("store %s: checkpoint is %d bytes, want 8", s.name, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func dataKey(k []byte) []byte { return append([]byte{dataPrefix}, k...) }

// get returns the value of k, and whether it has one.
func (s *kvStore) get(k []byte) ([]byte, bool, error) {
	s.mu.Lock()
	var d dirtyValue
	p, ok := s.mu.cache[string(k)]
	if ok {
		d = *p // copied under the lock: set updates it in place
	}
	s.mu.Unlock()
	if ok {
		return d.v, !d.del, nil
	}
	v, c, err := s.db.Get(dataKey(k))
	if errors.Is(err, pebble.ErrNotFound) {
		s.cacheClean(k, nil, true)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store %s: get: %w", s.name, err)
	}
	out := bytes.Clone(v)
	s.cacheClean(k, out, false)
	return out, true, c.Close()
}

// cacheClean caches a value read from pebble, unless the cache is full
// or the key was written meanwhile.
func (s *kvStore) cacheClean(k, v []byte, del bool) {
	s.mu.Lock()
	if _, ok := s.mu.cache[string(k)]; !ok && len(s.mu.cache) < cacheMax {
		s.mu.cache[string(k)] = &dirtyValue{v: v, del: del}
	}
	s.mu.Unlock()
}

// put sets k to v until the next commit makes it durable. v is kept, k
// is not (the caller may reuse it).
func (s *kvStore) put(k, v []byte) { s.set(k, dirtyValue{v: v, dirty: true}) }

// delete removes k.
func (s *kvStore) delete(k []byte) { s.set(k, dirtyValue{del: true, dirty: true}) }

// deleteLocal removes k from the store but writes no tombstone to the
// changelog: for records the changelog's retention drops (closed
// windows), which a restore deletes again (deleteRangeLocal).
func (s *kvStore) deleteLocal(k []byte) { s.set(k, dirtyValue{del: true, dirty: true, local: true}) }

// deleteRangeLocal deletes the committed keys in [from, to) from pebble
// only; call it before the store has cached writes (at a task's start).
func (s *kvStore) deleteRangeLocal(from, to []byte) error {
	if err := s.db.DeleteRange(dataKey(from), dataKey(to), pebble.NoSync); err != nil {
		return fmt.Errorf("store %s: delete range: %w", s.name, err)
	}
	return nil
}

// set caches a write; a key written again since the last commit is
// updated in place (no allocation on the hot path of a count).
func (s *kvStore) set(k []byte, d dirtyValue) {
	s.mu.Lock()
	if p, ok := s.mu.cache[string(k)]; ok {
		if !p.dirty {
			s.mu.dirty++
			if s.mu.ix != nil {
				s.mu.ix.insert(string(k), p)
			}
		}
		*p = d
	} else {
		nd := d // only a new entry allocates (taking &d would move every d to the heap)
		s.mu.cache[string(k)] = &nd
		s.mu.dirty++
		if s.mu.ix != nil {
			s.mu.ix.insert(string(k), &nd)
		}
	}
	s.mu.Unlock()
}

// dirtyLen is the number of keys written since the last commit.
func (s *kvStore) dirtyLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.dirty
}

// eachDirty calls f with every key written since the last commit: the
// changelog records to produce (v nil for a delete: a tombstone). f runs
// without the store's lock: it produces, which blocks while the
// producer's buffer is full until acknowledgements free it, and those
// call acknowledged, which takes the lock.
func (s *kvStore) eachDirty(f func(k, v []byte)) {
	s.mu.Lock()
	recs := make([]restoredRecord, 0, s.mu.dirty)
	for k, d := range s.mu.cache {
		switch {
		case !d.dirty, d.local:
		case d.del:
			recs = append(recs, restoredRecord{key: []byte(k)})
		default:
			recs = append(recs, restoredRecord{key: []byte(k), value: d.v})
		}
	}
	s.mu.Unlock()
	for _, r := range recs {
		f(r.key, r.value)
	}
}

// nextOffset is the changelog offset the store holds everything before.
func (s *kvStore) nextOffset() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.acked
}

// acknowledged records that the changelog holds offset.
func (s *kvStore) acknowledged(offset int64) {
	s.mu.Lock()
	s.mu.acked = max(s.mu.acked, offset+1)
	s.mu.Unlock()
}

// commitLocal writes the cache and the checkpoint to pebble in one batch,
// once the changelog has acknowledged every record eachDirty gave.
func (s *kvStore) commitLocal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	for k, d := range s.mu.cache {
		if !d.dirty {
			continue
		}
		var err error
		if d.del {
			err = b.Delete(dataKey([]byte(k)), nil)
		} else {
			err = b.Set(dataKey([]byte(k)), d.v, nil)
		}
		if err != nil {
			return fmt.Errorf("store %s: batch: %w", s.name, err)
		}
	}
	if err := b.Set(checkpointKey, binary.BigEndian.AppendUint64(nil, uint64(s.mu.acked)), nil); err != nil {
		return fmt.Errorf("store %s: batch: %w", s.name, err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("store %s: commit: %w", s.name, err)
	}
	if len(s.mu.cache) > cacheMax {
		clear(s.mu.cache)
	} else {
		for _, d := range s.mu.cache {
			d.dirty = false
		}
	}
	s.mu.dirty = 0
	if s.mu.ix != nil {
		s.mu.ix.reset()
	}
	return nil
}

// discard drops the writes since the last commit (an aborted transaction,
// a lost partition).
func (s *kvStore) discard() {
	s.mu.Lock()
	for k, d := range s.mu.cache {
		if d.dirty {
			delete(s.mu.cache, k)
		}
	}
	s.mu.dirty = 0
	if s.mu.ix != nil {
		s.mu.ix.reset()
	}
	s.mu.Unlock()
}

// scan calls f for each key in [from, to) in key order (to nil: no upper
// bound), reading what is committed merged with the cache. f's slices
// are valid only during the call. Its cost is in the keys of the range
// (pebble's and the cache's), not in the size of the cache, when the
// store keeps a dirty index (indexWrites).
func (s *kvStore) scan(from, to []byte, f func(k, v []byte) error) error {
	c := s.dirtyFrom(from, to)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: dataKey(from), UpperBound: upper(to)})
	if err != nil {
		return fmt.Errorf("store %s: scan: %w", s.name, err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()[1:]
		for ; c.ok && c.kv.k < string(k); c.next() {
			if err := emitDirty(c.kv, f); err != nil {
				return err
			}
		}
		if c.ok && c.kv.k == string(k) {
			if err := emitDirty(c.kv, f); err != nil {
				return err
			}
			c.next()
			continue
		}
		if err := f(k, it.Value()); err != nil {
			return err
		}
	}
	for ; c.ok; c.next() {
		if err := emitDirty(c.kv, f); err != nil {
			return err
		}
	}
	return it.Error()
}

type dirtyKV struct {
	k string
	d dirtyValue
}

func emitDirty(e dirtyKV, f func(k, v []byte) error) error {
	if e.d.del {
		return nil
	}
	return f([]byte(e.k), e.d.v)
}

func upper(to []byte) []byte {
	if to == nil {
		return []byte{dataPrefix + 1}
	}
	return dataKey(to)
}

// dirtyCursor walks the cached writes of a range in key order, one entry
// at a time under the store's lock (an interactive query may scan while
// the task writes). A commit that empties the index meanwhile leaves the
// cursor on the old nodes, which nothing changes any more.
type dirtyCursor struct {
	s *kvStore // nil: over snap
	n *ixNode
	// snap is the range's cached writes from a store without an index,
	// copied under the lock at the start; snap[0] is the current one.
	snap []dirtyKV
	to   []byte // nil: no bound
	ok   bool   // kv holds n's entry, which is in range
	kv   dirtyKV
}

// indexWrites keeps the store's dirty entries in key order from now on,
// for a processor that scans a small range per record (session windows,
// stream-stream joins): its scans then cost the range, not the cache.
// Other stores scan rarely (a window store once per closing window) and
// do better without the index's cost on every write: their scans walk
// the cache and sort the range.
func (s *kvStore) indexWrites() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.ix != nil {
		return
	}
	s.mu.ix = newDirtyIndex()
	for k, d := range s.mu.cache {
		if d.dirty {
			s.mu.ix.insert(k, d)
		}
	}
}

// dirtyFrom returns a cursor at the first cached write at or after from:
// over the dirty index if the store keeps one, else over a sorted copy of
// the range's cached writes.
func (s *kvStore) dirtyFrom(from, to []byte) dirtyCursor {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.ix == nil {
		c := dirtyCursor{snap: s.dirtyRangeLocked(from, to)}
		c.loadSnap()
		return c
	}
	c := dirtyCursor{s: s, to: to, n: s.mu.ix.seek(string(from))}
	c.loadLocked()
	return c
}

// next moves the cursor to the following cached write.
func (c *dirtyCursor) next() {
	if c.s == nil {
		c.snap = c.snap[1:]
		c.loadSnap()
		return
	}
	c.s.mu.Lock()
	c.n = c.n.next[0]
	c.loadLocked()
	c.s.mu.Unlock()
}

// loadLocked copies the current node's entry, if it is in range.
// s.mu must be held.
func (c *dirtyCursor) loadLocked() {
	c.ok = c.n != nil && (c.to == nil || c.n.key < string(c.to))
	if c.ok {
		c.kv = dirtyKV{k: c.n.key, d: *c.n.d}
	}
}

func (c *dirtyCursor) loadSnap() {
	c.ok = len(c.snap) > 0
	if c.ok {
		c.kv = c.snap[0]
	}
}

// dirtyRangeLocked returns the cached writes in [from, to), sorted by
// key. s.mu must be held.
func (s *kvStore) dirtyRangeLocked(from, to []byte) []dirtyKV {
	var out []dirtyKV
	for k, d := range s.mu.cache {
		if d.dirty && k >= string(from) && (to == nil || k < string(to)) {
			out = append(out, dirtyKV{k, *d})
		}
	}
	slices.SortFunc(out, func(a, b dirtyKV) int { return strings.Compare(a.k, b.k) })
	return out
}

// lastCommitted returns the greatest committed key in [from, to), if
// any (pebble only: call it before the store has cached writes).
func (s *kvStore) lastCommitted(from, to []byte) ([]byte, bool, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: dataKey(from), UpperBound: dataKey(to)})
	if err != nil {
		return nil, false, fmt.Errorf("store %s: %w", s.name, err)
	}
	defer it.Close()
	if !it.Last() {
		return nil, false, it.Error()
	}
	return bytes.Clone(it.Key()[1:]), true, nil
}

// applyRestored writes changelog records to pebble with the checkpoint
// after them, in one batch.
func (s *kvStore) applyRestored(recs []restoredRecord, next int64) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, r := range recs {
		var err error
		if r.value == nil {
			err = b.Delete(dataKey(r.key), nil)
		} else {
			err = b.Set(dataKey(r.key), r.value, nil)
		}
		if err != nil {
			return fmt.Errorf("store %s: restore batch: %w", s.name, err)
		}
	}
	if err := b.Set(checkpointKey, binary.BigEndian.AppendUint64(nil, uint64(next)), nil); err != nil {
		return fmt.Errorf("store %s: restore batch: %w", s.name, err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("store %s: restore commit: %w", s.name, err)
	}
	s.mu.Lock()
	s.mu.acked = max(s.mu.acked, next)
	for k, d := range s.mu.cache { // restored keys may be cached clean
		if !d.dirty {
			delete(s.mu.cache, k)
		}
	}
	s.mu.Unlock()
	return nil
}

type restoredRecord struct{ key, value []byte }

// close flushes pebble's memtable and closes it; closing again does
// nothing.
func (s *kvStore) close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Flush(); err != nil {
		_ = s.db.Close()
		return fmt.Errorf("store %s: flush: %w", s.name, err)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store %s: close: %w", s.name, err)
	}
	return nil
}

package corrindex

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"

	"github.com/heraldhq/herald/internal/broker"
)

// Defaults of Config's zero values.
const (
	DefaultInterval      = 200 * time.Millisecond
	DefaultSweepInterval = 10 * time.Minute
	DefaultCacheBytes    = 8 << 20
	// batchBytes is the pebble batch size an indexing pass commits at,
	// with the partition's next offset, so that a crash mid-pass loses
	// at most the uncommitted part, which is indexed again.
	batchBytes = 4 << 20
)

// Header names indexed: the CloudEvents Kafka binding's binary mode, as
// the event package writes them. Part of what the index means; do not
// change without reindexing.
const (
	HeaderCorrelationID = "ce_correlationid"
	HeaderID            = "ce_id"
	HeaderCausationID   = "ce_causationid"
	HeaderType          = "ce_type"
	HeaderSource        = "ce_source"
	HeaderTime          = "ce_time"
)

// Config configures an Index.
type Config struct {
	// Dir is the index's pebble directory, e.g. <data-dir>/correlation-index.
	Dir    string
	Broker *broker.Broker
	Logger *slog.Logger
	// Interval is how often the indexer looks for new records; default
	// 200ms. Lookups catch up first, so they never miss a record below
	// the high watermark whatever it is.
	Interval time.Duration
	// SweepInterval is how often entries below a partition's log start
	// (retention, DeleteRecords) or of deleted topics are removed;
	// default 10 minutes.
	SweepInterval time.Duration
	// CacheBytes is pebble's block cache; default 8 MiB.
	CacheBytes int64
}

// Index is a broker's correlation index. Its methods are safe for
// concurrent use; Close stops the indexer and closes the store.
type Index struct {
	cfg    Config
	db     *pebble.DB
	cache  *pebble.Cache
	logger *slog.Logger

	// passMu serializes indexing passes and sweeps (the indexer's and
	// those Locate runs to catch up). Lock order: passMu before mu.
	passMu sync.Mutex
	// epoch is the epoch new keys are written in (keys.go); passes
	// advance it under passMu, lookups read it.
	epoch atomic.Uint32
	// inEpoch counts the entries written in epoch; passMu.
	inEpoch int
	mu      struct {
		sync.Mutex
		parts   map[partKey]*partState // every partition seen
		byPID   map[uint32]partKey
		nextPID uint32
	}

	stop chan struct{}
	done chan struct{}
}

// partState is one partition's place in the index.
type partState struct {
	pid   uint32
	epoch uint32 // of its 'p' key
	// next is the first offset not indexed yet. Invariant: every record
	// below next (and at or above the log start) has its entries
	// committed. Only the goroutine holding passMu changes it.
	next int64
}

// Open opens (or creates) the index at cfg.Dir, reads each partition's
// next offset, and starts the indexer, which indexes what the broker
// holds beyond it.
func Open(cfg Config) (*Index, error) {
	if cfg.Broker == nil || cfg.Dir == "" {
		return nil, errors.New("corrindex: Broker and Dir are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("corrindex: %w", err)
	}
	cache := pebble.NewCache(cfg.CacheBytes)
	// No write-ahead log: a batch's entries and its partition's next
	// offset land in one memtable and are flushed together, so what a
	// crash leaves is consistent, and the records after it are indexed
	// again. Close flushes.
	db, err := pebble.Open(cfg.Dir, storeOptions(cache))
	if err != nil {
		cache.Unref()
		return nil, fmt.Errorf("corrindex: open %s: %w", cfg.Dir, err)
	}
	x := &Index{cfg: cfg, db: db, cache: cache, logger: cfg.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	x.mu.parts, x.mu.byPID = map[partKey]*partState{}, map[uint32]partKey{}
	if err := x.load(); err != nil {
		db.Close()
		cache.Unref()
		return nil, err
	}
	go x.run()
	return x, nil
}

// storeOptions tunes pebble for what the index writes: keys that start
// with a random hash, so every flush overlaps every table below it. Fewer,
// larger levels and no block compression (hashes do not compress) cut the
// compaction work that costs the broker CPU.
func storeOptions(cache *pebble.Cache) *pebble.Options {
	o := &pebble.Options{Cache: cache, MemTableSize: 16 << 20, DisableWAL: true, Logger: quietLogger{}, FS: privateFS{vfs.Default},
		L0CompactionThreshold: 8, L0StopWritesThreshold: 32, LBaseMaxBytes: 256 << 20}
	o.Levels = make([]pebble.LevelOptions, 7)
	for i := range o.Levels {
		o.Levels[i].Compression = pebble.NoCompression
		o.Levels[i].TargetFileSize = 32 << 20
	}
	return o
}

// load reads the partition table and next offsets, epoch by epoch (a
// later 'w' key overrides an earlier one), and starts a new epoch.
func (x *Index) load() error {
	it, err := x.db.NewIter(nil)
	if err != nil {
		return err
	}
	defer it.Close()
	if !it.Last() {
		return it.Error()
	}
	last, _, ok := parseKey(it.Key())
	if !ok {
		return fmt.Errorf("corrindex: bad key %x", it.Key())
	}
	for e := uint32(0); e <= last; e++ {
		if err := x.loadEpoch(it, e); err != nil {
			return err
		}
	}
	x.epoch.Store(last + 1)
	return nil
}

// loadEpoch reads epoch e's partitions and next offsets.
func (x *Index) loadEpoch(it *pebble.Iterator, e uint32) error {
	lo, hi := kindRange(e, kindPartition)
	for it.SeekGE(lo); it.Valid() && string(it.Key()) < string(hi); it.Next() {
		pk, ok := parsePartKey(it.Key()[5:])
		if !ok || len(it.Value()) != 4 {
			return fmt.Errorf("corrindex: bad partition entry %x", it.Key())
		}
		pid := binary.BigEndian.Uint32(it.Value())
		x.mu.parts[pk], x.mu.byPID[pid] = &partState{pid: pid, epoch: e}, pk
		x.mu.nextPID = max(x.mu.nextPID, pid+1)
	}
	lo, hi = kindRange(e, kindNext)
	for it.SeekGE(lo); it.Valid() && string(it.Key()) < string(hi); it.Next() {
		k := it.Key()
		if len(k) != 9 || len(it.Value()) != 8 {
			return fmt.Errorf("corrindex: bad next offset entry %x", k)
		}
		if pk, ok := x.mu.byPID[binary.BigEndian.Uint32(k[5:])]; ok {
			x.mu.parts[pk].next = int64(binary.BigEndian.Uint64(it.Value()))
		}
	}
	return it.Error()
}

// Close stops the indexer and closes the store; what was indexed stays.
func (x *Index) Close() error {
	select {
	case <-x.stop:
		return nil
	default:
	}
	close(x.stop)
	<-x.done
	x.passMu.Lock()
	defer x.passMu.Unlock()
	err := x.db.Flush()
	err = errors.Join(err, x.db.Close())
	x.cache.Unref()
	return err
}

// passBytes bounds the log one background pass reads per partition, and
// idleFactor is how much longer than a pass took the indexer then waits:
// the background indexer takes at most about a quarter of a core, so that
// under a sustained produce rate above what it indexes it falls behind
// rather than slow the producers; a Trace catches up what is left first.
const (
	passBytes  = 8 << 20
	idleFactor = 3
)

// run is the indexer: a bounded pass every Interval (or idleFactor times
// the last pass's duration), a sweep every SweepInterval.
func (x *Index) run() {
	defer close(x.done)
	lastSweep := time.Now()
	wait := x.cfg.Interval
	for {
		t := time.NewTimer(wait)
		select {
		case <-x.stop:
			t.Stop()
			return
		case <-t.C:
		}
		start := time.Now()
		if err := x.pass(passBytes, time.Time{}); err != nil {
			x.logger.Warn("correlation index: indexing failed; retrying", "err", err)
		}
		wait = max(x.cfg.Interval, idleFactor*time.Since(start))
		if time.Since(lastSweep) >= x.cfg.SweepInterval {
			lastSweep = time.Now()
			if n, err := x.Sweep(); err != nil {
				x.logger.Warn("correlation index: sweep failed", "err", err)
			} else if n > 0 {
				x.logger.Debug("correlation index: swept", "entries", n)
			}
		}
	}
}

// quietLogger drops pebble's informational logging.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	slog.Error(fmt.Sprintf("correlation index: "+format, args...))
}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("correlation index: "+format, args...))
}

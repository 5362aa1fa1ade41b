package stream

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// restoreBatch is how many changelog records go to pebble in one batch.
const restoreBatch = 10_000

// restoreStore brings s up to its changelog's end: it reads the
// changelog partition from the store's checkpoint to the end offset
// listed at the start (the last stable offset under ExactlyOnce, so
// aborted writes are skipped) and writes each batch with the offset after
// it as the new checkpoint. It returns how many records it applied.
func restoreStore(ctx context.Context, a *App, id taskID, s *kvStore) (int64, error) {
	from := s.mu.acked // no processing yet: nothing else touches it
	end, err := a.changelogEnd(ctx, s)
	if err != nil {
		return 0, err
	}
	if from >= end {
		return 0, nil
	}
	start := time.Now()
	rp := a.restores.begin(id, s, from, end)
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(a.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.changelog: {s.partition: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.KeepControlRecords(), // a transaction's marker may be the changelog's last offset
	}, a.cfg.ClientOpts...)...)
	if err != nil {
		return 0, fmt.Errorf("restore %s: client: %w", s.name, err)
	}
	defer cl.Close()
	n, err := restoreLoop(ctx, cl, s, end, func(n, next int64) {
		if a.restores.progress(rp, n, next) {
			a.log.Info("restoring store", "store", s.name, "partition", s.partition, "records", n, "offset", next, "of", end)
		}
	})
	a.restores.finish(rp, n, err)
	a.log.Info("store restored", "store", s.name, "partition", s.partition, "records", n, "from", from, "to", end, "took", time.Since(start))
	return n, err
}

// changelogEnd is the offset restoring stops at. A retriable answer
// (NOT_LEADER_FOR_PARTITION while the changelog's leader moves, a
// coordinator loading) is asked again after a short wait, until ctx ends.
func (a *App) changelogEnd(ctx context.Context, s *kvStore) (int64, error) {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		end, err := a.changelogEndOnce(ctx, s)
		if err == nil || !kerr.IsRetriable(err) {
			return end, err
		}
		a.log.Debug("restore: end offset not known yet; asking again", "store", s.name, "partition", s.partition, "err", err)
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w (%w)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

func (a *App) changelogEndOnce(ctx context.Context, s *kvStore) (int64, error) {
	list := a.adm.ListEndOffsets
	if a.cfg.Guarantee == ExactlyOnce {
		list = a.adm.ListCommittedOffsets
	}
	lo, err := list(ctx, s.changelog)
	if err != nil {
		return 0, fmt.Errorf("restore %s: end offsets: %w", s.name, err)
	}
	o, ok := lo.Lookup(s.changelog, s.partition)
	if !ok {
		return 0, fmt.Errorf("restore %s: no end offset for partition %d", s.name, s.partition)
	}
	if o.Err != nil {
		return 0, fmt.Errorf("restore %s: end offset of partition %d: %w", s.name, s.partition, o.Err)
	}
	return o.Offset, nil
}

// restoreLoop applies records until it has read past end-1 (control
// records count: a commit marker may be the last offset), or a poll
// finds nothing for 5s (aborted records at the end are never returned).
// progress is told the records applied so far and the next offset after
// each batch.
func restoreLoop(ctx context.Context, cl *kgo.Client, s *kvStore, end int64, progress func(n, next int64)) (int64, error) {
	var n int64
	batch := make([]restoredRecord, 0, restoreBatch)
	next := s.mu.acked
	for next < end {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fs := cl.PollRecords(pctx, restoreBatch)
		cancel()
		if err := fetchErr(fs); err != nil {
			return n, err
		}
		if fs.NumRecords() == 0 {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			break
		}
		batch = batch[:0]
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				batch = append(batch, restoredRecord{key: r.Key, value: r.Value})
			}
			next = r.Offset + 1
		})
		if err := s.applyRestored(batch, next); err != nil {
			return n, err
		}
		n += int64(len(batch))
		progress(n, next)
	}
	return n, nil
}

// RestoreProgress is one store partition's restore from its changelog:
// running, or the last one done on this instance.
type RestoreProgress struct {
	Task, Store string
	Restored    int64 // records applied so far
	// Offsets is how far the restore has read of the changelog
	// (Offset-From of To-From); To-From bounds the records to restore
	// (compaction and transaction markers leave gaps).
	From, Offset, To int64
	Started          time.Time
	Took             time.Duration // once Done
	Done             bool
	Err              string // why it failed, if it did
}

// restores tracks RestoreProgress per task and store. Safe for
// concurrent use.
type restores struct {
	mu struct {
		sync.Mutex
		m map[string]*RestoreProgress // by task/store
	}
}

// progressLogEvery is how often a long restore logs its progress.
const progressLogEvery = 5 * time.Second

type restoreHandle struct {
	key     string
	lastLog time.Time
}

func (r *restores) begin(id taskID, s *kvStore, from, to int64) *restoreHandle {
	task := id.String()
	h := &restoreHandle{key: task + "/" + s.name, lastLog: time.Now()}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.m == nil {
		r.mu.m = map[string]*RestoreProgress{}
	}
	r.mu.m[h.key] = &RestoreProgress{Task: task, Store: s.name, From: from, Offset: from, To: to, Started: time.Now()}
	return h
}

// progress records a batch and reports whether it is time to log.
func (r *restores) progress(h *restoreHandle, n, next int64) bool {
	r.mu.Lock()
	p := r.mu.m[h.key]
	p.Restored, p.Offset = n, next
	r.mu.Unlock()
	if time.Since(h.lastLog) < progressLogEvery {
		return false
	}
	h.lastLog = time.Now()
	return true
}

func (r *restores) finish(h *restoreHandle, n int64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.mu.m[h.key]
	p.Restored, p.Done, p.Took = n, true, time.Since(p.Started)
	if err != nil {
		p.Err = err.Error()
	}
}

// RestoreProgress lists the restores running on this instance and the
// last one done of each store partition, by task and store.
func (a *App) RestoreProgress() []RestoreProgress {
	a.restores.mu.Lock()
	out := make([]RestoreProgress, 0, len(a.restores.mu.m))
	for _, p := range a.restores.mu.m {
		out = append(out, *p)
	}
	a.restores.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].Task < out[j].Task || out[i].Task == out[j].Task && out[i].Store < out[j].Store
	})
	return out
}

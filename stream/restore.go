package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// restoreBatch is how many changelog records go to pebble in one batch.
const restoreBatch = 10_000

// restoreStore brings s up to its changelog's end: it reads the
// changelog partition from the store's checkpoint to the end offset
// listed at the start (the last stable offset under ExactlyOnce, so
// aborted writes are skipped) and writes each batch with the offset after
// it as the new checkpoint. It returns how many records it applied.
func restoreStore(ctx context.Context, a *App, s *kvStore) (int64, error) {
	from := s.mu.acked // no processing yet: nothing else touches it
	end, err := a.changelogEnd(ctx, s)
	if err != nil {
		return 0, err
	}
	if from >= end {
		return 0, nil
	}
	start := time.Now()
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
	n, err := restoreLoop(ctx, cl, s, end)
	a.log.Info("store restored", "store", s.name, "partition", s.partition, "records", n, "from", from, "to", end, "took", time.Since(start))
	return n, err
}

// changelogEnd is the offset restoring stops at.
func (a *App) changelogEnd(ctx context.Context, s *kvStore) (int64, error) {
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
func restoreLoop(ctx context.Context, cl *kgo.Client, s *kvStore, end int64) (int64, error) {
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
	}
	return n, nil
}

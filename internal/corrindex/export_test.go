package corrindex

import (
	"errors"
	"time"
)

// SetEpochEntries sets how many entries an epoch holds, for tests that
// need many epochs; it returns the function that restores it.
func SetEpochEntries(n int) (restore func()) {
	old := epochEntries.Swap(int64(n))
	return func() { epochEntries.Store(old) }
}

// Epoch is the epoch new keys go to.
func (x *Index) Epoch() uint32 { return x.epoch.Load() }

// Settle catches the index up with the logs, flushes its memtable and
// waits until no flush or compaction runs, so that a benchmark's next
// timed block starts with no index work pending.
func (x *Index) Settle() error {
	if err := x.CatchUp(); err != nil {
		return err
	}
	if err := x.db.Flush(); err != nil {
		return err
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for {
		m := x.db.Metrics()
		if m.Compact.NumInProgress == 0 && m.Flush.NumInProgress == 0 {
			return nil
		}
		select {
		case <-tick.C:
		case <-deadline:
			return errors.New("corrindex: compactions still running after a minute")
		}
	}
}

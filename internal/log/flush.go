package log

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// WaitDurable blocks until the append behind r is durable, or returns the
// error that stopped it from becoming so. Under an interval policy it
// returns at once.
func (l *Log) WaitDurable(r AppendResult) error {
	if r.pos == 0 {
		return nil
	}
	l.flush.Lock()
	defer l.flush.Unlock()
	for l.flush.synced < r.pos {
		if l.flush.err != nil {
			return l.flush.err
		}
		if !l.flush.syncing {
			// Nobody is syncing: lead the next group commit here
			// rather than hand off to the flusher and back, which
			// costs two context switches per acknowledgement.
			l.flush.Unlock()
			l.syncOnce()
			l.flush.Lock()
			continue
		}
		l.flush.cond.Wait()
	}
	return nil
}

func (l *Log) kickFlusher() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// markSynced records that every byte appended up to pos is durable and
// wakes the appends waiting for it.
func (l *Log) markSynced(pos uint64) {
	l.flush.Lock()
	if pos > l.flush.synced {
		l.flush.synced = pos
	}
	l.flush.cond.Broadcast()
	l.flush.Unlock()
}

// flusher is the one goroutine that syncs the active segment. Under Always
// it runs whenever an append kicks it; every append that arrives while a
// sync runs waits for the next one, so one fdatasync covers them all
// (group commit). Under an interval policy it syncs on a ticker.
func (l *Log) flusher() {
	defer l.wg.Done()
	var (
		ticker   *time.Ticker
		tick     <-chan time.Time
		interval time.Duration
	)
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		l.mu.RLock()
		d := l.mu.cfg.Durability
		l.mu.RUnlock()
		if !d.Always && d.Interval != interval {
			if ticker != nil {
				ticker.Stop()
			}
			ticker, tick, interval = nil, nil, d.Interval
			if interval > 0 {
				ticker = time.NewTicker(interval)
				tick = ticker.C
			}
		}
		select {
		case <-l.done:
			return
		case <-l.kick:
		case <-tick:
		}
		l.syncOnce()
	}
}

// syncOnce syncs the active segment if anything was written since the last
// sync, then publishes the synced data to waiters and readers. One sync
// runs at a time (flush.syncing), whether the flusher or an appender in
// WaitDurable leads it; appends that arrive meanwhile wait for the next
// one, which then covers them all.
func (l *Log) syncOnce() {
	l.flush.Lock()
	for l.flush.syncing {
		l.flush.cond.Wait()
	}
	l.flush.syncing = true
	l.flush.Unlock()
	defer func() {
		l.flush.Lock()
		l.flush.syncing = false
		l.flush.cond.Broadcast()
		l.flush.Unlock()
	}()
	l.syncOnceLocked()
}

// syncOnceLocked is syncOnce's body.
// flush.syncing must be held (set by this goroutine).
func (l *Log) syncOnceLocked() {
	if l.failed.Load() {
		return
	}
	l.mu.RLock()
	s := l.mu.segments[len(l.mu.segments)-1]
	target, size, next, appends := l.mu.written, s.size, l.mu.next, l.mu.appends
	l.mu.RUnlock()
	l.flush.Lock()
	done := l.flush.synced >= target
	l.flush.Unlock()
	if done {
		return
	}
	start := time.Now()
	err := s.file.Sync()
	if err != nil && errors.Is(err, os.ErrClosed) && s.removed.Load() {
		// Rolled (and synced then) and since deleted by retention.
		return
	}
	l.stats.observeSync(start, appends-l.flush.appends, err)
	l.flush.appends = appends
	if err != nil {
		l.fail(fmt.Errorf("fdatasync segment %d: %w", s.base, err))
		return
	}
	storeMax(&s.readable, size)
	// Publish before waking the appenders: an acknowledged batch is
	// visible to a fetch that follows the produce response.
	l.advanceHW(next)
	l.markSynced(target)
}

// syncActive syncs the active segment and publishes everything written.
func (l *Log) syncActive() error {
	l.mu.RLock()
	s := l.mu.segments[len(l.mu.segments)-1]
	target, size, next := l.mu.written, s.size, l.mu.next
	l.mu.RUnlock()
	if err := s.file.Sync(); err != nil {
		err = fmt.Errorf("fdatasync segment %d: %w", s.base, err)
		l.fail(err)
		return err
	}
	storeMax(&s.readable, size)
	// Publish before waking the appenders: an acknowledged batch is
	// visible to a fetch that follows the produce response.
	l.advanceHW(next)
	l.markSynced(target)
	return nil
}

// Sync makes everything appended so far durable.
func (l *Log) Sync() error {
	switch {
	case l.failed.Load():
		return ErrFailed
	}
	l.mu.RLock()
	closed := l.mu.closed
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return l.syncActive()
}

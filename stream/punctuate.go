package stream

import (
	"fmt"
	"time"
)

// PunctuationType is the clock that drives a punctuator.
type PunctuationType int

const (
	// StreamTime punctuators run as a task's stream time (the highest
	// record timestamp it has seen) passes each interval: driven by the
	// data, not at all while no record comes, and once for a jump over
	// several intervals.
	StreamTime PunctuationType = iota
	// WallClock punctuators run every interval of the system clock, with
	// or without records (at the poll loop's pace: no later than the
	// interval, nor much earlier).
	WallClock
)

// Punctuate passes s through and calls f, per task, every interval of
// the clock typ: at a time t, f may emit records downstream (with
// timestamp t). Use it for periodic work a record cannot trigger: flush
// a buffer, emit a heartbeat, expire what a time passed. f runs on the
// task's goroutine, between records, and an error from it stops the App
// as a processing error does. Each run's duration goes into the task's
// punctuation metrics (TaskMetrics.Punctuations, PunctuateMax,
// PunctuateTotal).
func Punctuate[K, V any](s Stream[K, V], every time.Duration, typ PunctuationType,
	f func(task string, t time.Time, emit func(K, V)) error) Stream[K, V] {
	t := s.p.t
	n := t.addNode("punctuate", s.p.n)
	if every <= 0 {
		t.fail(fmt.Errorf("%s: interval %v is not positive", n.name(), every))
	}
	if typ != StreamTime && typ != WallClock {
		t.fail(fmt.Errorf("%s: unknown punctuation type %d", n.name(), typ))
	}
	t.wallClock = t.wallClock || typ == WallClock
	p := newPort[K, V](t, n)
	s.p.connect(func(tk *task) (emitFn[K, V], error) {
		next, err := p.build(tk)
		if err != nil {
			return nil, err
		}
		tk.punctuators = append(tk.punctuators, &punctuator{typ: typ, every: every.Milliseconds(), next: -1,
			run: func(ms int64) error {
				var eerr error
				err := f(tk.id.String(), time.UnixMilli(ms), func(k K, v V) {
					if eerr == nil {
						eerr = next(k, v, ms)
					}
				})
				return errorsOr(err, eerr)
			}})
		return next, nil
	})
	return Stream[K, V]{p: p}
}

// punctuator is one Punctuate node's schedule in one task.
type punctuator struct {
	typ   PunctuationType
	every int64             // ms
	next  int64             // when it runs next (ms, of its clock); -1: not scheduled yet
	run   func(int64) error // at the given time (ms)
}

// maybeRun runs p if its clock (now, ms) has reached its time, and
// schedules the next: the first interval after now.
func (p *punctuator) maybeRun(tk *task, now int64) error {
	if now < 0 {
		return nil
	}
	if p.next < 0 {
		p.next = now + p.every
		return nil
	}
	if now < p.next {
		return nil
	}
	p.next = now - (now-p.next)%p.every + p.every
	start := time.Now()
	err := p.run(now)
	tk.metrics.punctuated(time.Since(start))
	if err != nil {
		return fmt.Errorf("stream: task %s: punctuator: %w", tk.id, err)
	}
	return nil
}

// punctuate runs the task's punctuators of typ that are due.
func (tk *task) punctuate(typ PunctuationType, now int64) error {
	for _, p := range tk.punctuators {
		if p.typ != typ {
			continue
		}
		if err := p.maybeRun(tk, now); err != nil {
			return err
		}
	}
	return nil
}

// nextWallClock is how long until a wall-clock punctuator of any task
// is due (max if none).
func (a *App) nextWallClock(max time.Duration) time.Duration {
	if !a.t.wallClock {
		return max
	}
	now := time.Now().UnixMilli()
	d := max
	for _, tk := range a.taskList() {
		for _, p := range tk.punctuators {
			if p.typ == WallClock && p.next >= 0 {
				d = min(d, time.Duration(p.next-now)*time.Millisecond)
			}
		}
	}
	return d
}

// punctuateWallClock runs every task's due wall-clock punctuators.
func (a *App) punctuateWallClock() error {
	if !a.t.wallClock {
		return nil
	}
	now := time.Now().UnixMilli()
	for _, tk := range a.taskList() {
		if err := tk.punctuate(WallClock, now); err != nil {
			return err
		}
	}
	return nil
}

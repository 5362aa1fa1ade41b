package stream

import (
	"errors"
	"fmt"
	"time"
)

// Pattern is a complex event pattern over one key's records, in event
// time: a sequence of steps, each a named condition on a record (and on
// the records the match took so far), with contiguity, counts, optional
// steps, a trailing negation and a time bound. Detect runs it.
//
//	fire := stream.Begin("smoke", func(r Reading, _ stream.Match[Reading]) bool { return r.Smoke }).
//		FollowedBy("spike", func(r Reading, _ stream.Match[Reading]) bool { return r.Celsius > 60 }).
//		Within(2 * time.Minute)
//
// Matching is "skip till next match": under FollowedBy (relaxed
// contiguity) a partial match ignores records that fit no step; under
// Next (strict) the record right after the previous step's must fit or
// the partial match is dropped. A counted step (Times, OneOrMore) takes
// every record that fits it before the pattern moves on (greedy), and a
// pattern whose last positive step is satisfied matches at once. Every
// record that fits the first step starts a partial match of its own.
type Pattern[V any] struct {
	steps       []patternStep[V]
	within      int64 // ms; 0: unbounded
	skip        AfterMatchSkip
	maxPartials int
	errs        []error
}

type patternStep[V any] struct {
	name     string
	cond     func(v V, m Match[V]) bool
	strict   bool // Next: must fit the record right after the previous step's
	min, max int  // records this step takes; max < 0: unbounded
	negated  bool // NotFollowedBy
}

// Match is a (partial) match: the records each step took, by step name,
// in order, and the first and last record's event times. A match that a
// trailing NotFollowedBy completed by its deadline has TimedOut set and
// End at the deadline.
type Match[V any] struct {
	Events     map[string][]V
	Start, End time.Time
	TimedOut   bool
}

// First is the first record step name took, if any.
func (m Match[V]) First(name string) (V, bool) {
	if evs := m.Events[name]; len(evs) > 0 {
		return evs[0], true
	}
	var zero V
	return zero, false
}

// AfterMatchSkip says which partial matches of a key survive a match.
type AfterMatchSkip int

const (
	// NoSkip keeps every partial match: records may be in several matches.
	NoSkip AfterMatchSkip = iota
	// SkipToNext drops the partial matches that began with the same record
	// as the match.
	SkipToNext
	// SkipPastLastEvent drops every partial match of the key: no record of
	// a match is in another.
	SkipPastLastEvent
)

// DefaultMaxPartials bounds the partial matches kept per key.
const DefaultMaxPartials = 1000

// Begin starts a pattern whose first step, name, takes a record for
// which cond returns true.
func Begin[V any](name string, cond func(v V, m Match[V]) bool) *Pattern[V] {
	p := &Pattern[V]{maxPartials: DefaultMaxPartials}
	return p.add(patternStep[V]{name: name, cond: cond, min: 1, max: 1})
}

func (p *Pattern[V]) add(s patternStep[V]) *Pattern[V] {
	for _, o := range p.steps {
		if o.name == s.name {
			p.errs = append(p.errs, fmt.Errorf("pattern: step name %q used twice", s.name))
		}
	}
	if len(p.steps) > 0 && p.steps[len(p.steps)-1].negated {
		p.errs = append(p.errs, fmt.Errorf("pattern: step %q follows a NotFollowedBy, which must be last", s.name))
	}
	if s.cond == nil {
		p.errs = append(p.errs, fmt.Errorf("pattern: step %q has no condition", s.name))
	}
	p.steps = append(p.steps, s)
	return p
}

// FollowedBy adds a step with relaxed contiguity: records between the
// previous step's and this one's are ignored.
func (p *Pattern[V]) FollowedBy(name string, cond func(v V, m Match[V]) bool) *Pattern[V] {
	return p.add(patternStep[V]{name: name, cond: cond, min: 1, max: 1})
}

// Next adds a step with strict contiguity: it must take the record
// right after the previous step's.
func (p *Pattern[V]) Next(name string, cond func(v V, m Match[V]) bool) *Pattern[V] {
	return p.add(patternStep[V]{name: name, cond: cond, min: 1, max: 1, strict: true})
}

// NotFollowedBy ends the pattern with a negation: a partial match that
// took every earlier step matches when Within's time passes (by stream
// time) without a record for which cond returns true; such a record
// drops it. It requires Within.
func (p *Pattern[V]) NotFollowedBy(name string, cond func(v V, m Match[V]) bool) *Pattern[V] {
	return p.add(patternStep[V]{name: name, cond: cond, negated: true})
}

// last is the step the count modifiers apply to.
func (p *Pattern[V]) last(what string) *patternStep[V] {
	s := &p.steps[len(p.steps)-1]
	if s.negated {
		p.errs = append(p.errs, fmt.Errorf("pattern: %s on the negated step %q", what, s.name))
	}
	return s
}

// Times makes the last step take exactly n records.
func (p *Pattern[V]) Times(n int) *Pattern[V] {
	if n < 1 {
		p.errs = append(p.errs, fmt.Errorf("pattern: Times(%d)", n))
	}
	s := p.last("Times")
	s.min, s.max = n, n
	return p
}

// OneOrMore makes the last step take one record or more.
func (p *Pattern[V]) OneOrMore() *Pattern[V] {
	s := p.last("OneOrMore")
	s.min, s.max = 1, -1
	return p
}

// Optional lets the pattern go on without the last step.
func (p *Pattern[V]) Optional() *Pattern[V] {
	if len(p.steps) == 1 {
		p.errs = append(p.errs, errors.New("pattern: the first step cannot be optional"))
	}
	p.last("Optional").min = 0
	return p
}

// Within bounds a match: its last record (or a negation's deadline) is
// at most d after its first. Partial matches older than that expire.
func (p *Pattern[V]) Within(d time.Duration) *Pattern[V] {
	if d <= 0 {
		p.errs = append(p.errs, fmt.Errorf("pattern: Within(%v)", d))
	}
	p.within = d.Milliseconds()
	return p
}

// AfterMatch sets the after-match skip strategy (NoSkip by default).
func (p *Pattern[V]) AfterMatch(s AfterMatchSkip) *Pattern[V] { p.skip = s; return p }

// MaxPartials bounds the partial matches kept per key (DefaultMaxPartials):
// past it the oldest is dropped and counted in TaskMetrics.PartialsDropped.
func (p *Pattern[V]) MaxPartials(n int) *Pattern[V] {
	if n < 1 {
		p.errs = append(p.errs, fmt.Errorf("pattern: MaxPartials(%d)", n))
	}
	p.maxPartials = n
	return p
}

func (p *Pattern[V]) validate() error {
	errs := p.errs
	if n := len(p.steps); n > 0 && p.steps[n-1].negated && p.within == 0 {
		errs = append(errs, errors.New("pattern: NotFollowedBy needs Within"))
	}
	if n := len(p.steps); n > 0 && p.steps[n-1].negated && n == 1 {
		errs = append(errs, errors.New("pattern: a pattern cannot be only a negation"))
	}
	return errors.Join(errs...)
}

// positive is the number of steps that take records.
func (p *Pattern[V]) positive() int {
	if n := len(p.steps); n > 0 && p.steps[n-1].negated {
		return n - 1
	}
	return len(p.steps)
}

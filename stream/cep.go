package stream

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// cepState is one key's partial matches, as its store keeps them (JSON;
// part of the store's format, do not change field names).
type cepState struct {
	Seq      int64        `json:"seq"` // records of the key seen
	Partials []cepPartial `json:"partials"`
}

// cepPartial is one partial match.
type cepPartial struct {
	Step     int        `json:"step"`  // the step being matched
	Count    int        `json:"count"` // records Step took
	Start    int64      `json:"start"` // first record's timestamp (ms)
	StartSeq int64      `json:"startSeq"`
	Done     bool       `json:"done"` // every positive step taken; waits on the negation
	Events   []cepEvent `json:"events"`
}

type cepEvent struct {
	Step  int    `json:"step"`
	Value []byte `json:"value"`
	TS    int64  `json:"ts"`
}

// Detect finds p in each key's records of g and emits every match, keyed
// by the key. Partial matches are kept in the store named store (with its
// changelog), so they survive restarts and move with their partition.
func Detect[K, V any](g Grouped[K, V], p *Pattern[V], store string) Stream[K, Match[V]] {
	t := g.s.p.t
	n := t.addNode("pattern", g.s.p.n)
	t.addStore(store, n)
	if err := p.validate(); err != nil {
		t.fail(fmt.Errorf("%s: %w", n.name(), err))
	}
	out := newPort[K, Match[V]](t, n)
	g.s.p.connect(func(tk *task) (emitFn[K, V], error) {
		s, err := tk.store(store)
		if err != nil {
			return nil, err
		}
		next, err := out.build(tk)
		if err != nil {
			return nil, err
		}
		m := &matcher[K, V]{tk: tk, s: s, p: p, kc: g.kc, vc: g.vc, next: next, deadlines: map[string]int64{}, minDeadline: -1}
		tk.onStart(m.loadDeadlines)
		return m.process, nil
	})
	return Stream[K, Match[V]]{p: out}
}

// matcher runs a pattern for one task.
type matcher[K, V any] struct {
	tk   *task
	s    *kvStore
	p    *Pattern[V]
	kc   Codec[K]
	vc   Codec[V]
	next emitFn[K, Match[V]]
	// deadlines is the earliest expiry (Start+within) of each key's
	// partial matches, for keys that have any (only with Within);
	// minDeadline is their minimum, -1 if none.
	deadlines   map[string]int64
	minDeadline int64
}

// loadDeadlines rebuilds the deadline index from the store at task start.
func (m *matcher[K, V]) loadDeadlines() error {
	if m.p.within == 0 {
		return nil
	}
	return m.s.scan(nil, nil, func(k, v []byte) error {
		var st cepState
		if err := json.Unmarshal(v, &st); err != nil {
			return fmt.Errorf("store %s: %w", m.s.name, err)
		}
		m.setDeadline(string(k), &st)
		return nil
	})
}

func (m *matcher[K, V]) setDeadline(k string, st *cepState) {
	if m.p.within == 0 {
		return
	}
	if len(st.Partials) == 0 {
		delete(m.deadlines, k)
		return
	}
	d := st.Partials[0].Start + m.p.within
	for _, p := range st.Partials[1:] {
		d = min(d, p.Start+m.p.within)
	}
	m.deadlines[k] = d
	if m.minDeadline < 0 || d < m.minDeadline {
		m.minDeadline = d
	}
}

func (m *matcher[K, V]) load(kb []byte) (*cepState, error) {
	b, ok, err := m.s.get(kb)
	if err != nil || !ok {
		return &cepState{}, err
	}
	var st cepState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("store %s: %w", m.s.name, err)
	}
	return &st, nil
}

func (m *matcher[K, V]) save(kb []byte, st *cepState) error {
	m.setDeadline(string(kb), st)
	if len(st.Partials) == 0 {
		m.s.delete(kb)
		return nil
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("store %s: %w", m.s.name, err)
	}
	m.s.put(kb, b)
	return nil
}

func (m *matcher[K, V]) process(k K, v V, ts int64) error {
	kb, err := m.kc.Encode(k)
	if err != nil {
		return fmt.Errorf("pattern: key: %w", err)
	}
	vb, err := m.vc.Encode(v)
	if err != nil {
		return fmt.Errorf("pattern: value: %w", err)
	}
	// Stream time may have passed deadlines: those matches come first.
	if err := m.expire(); err != nil {
		return err
	}
	st, err := m.load(kb)
	if err != nil {
		return err
	}
	st.Seq++
	matches, err := m.step(st, v, cepEvent{Value: vb, TS: ts})
	if err != nil {
		return err
	}
	if err := m.save(kb, st); err != nil {
		return err
	}
	for _, mt := range matches {
		if err := m.next(k, mt, mt.End.UnixMilli()); err != nil {
			return err
		}
	}
	return nil
}

// step runs one record through a key's partial matches and returns the
// matches it completes (and the negation matches whose time passed).
func (m *matcher[K, V]) step(st *cepState, v V, ev cepEvent) ([]Match[V], error) {
	var out []Match[V]
	var kept []cepPartial
	for _, pm := range st.Partials {
		if m.p.within > 0 && ev.TS-pm.Start > m.p.within {
			if pm.Done {
				mt, err := m.match(pm, true)
				if err != nil {
					return nil, err
				}
				out = append(out, mt)
			}
			continue
		}
		npm, keep, matched, err := m.advance(pm, v, ev)
		if err != nil {
			return nil, err
		}
		if matched {
			mt, err := m.match(npm, false)
			if err != nil {
				return nil, err
			}
			out = append(out, mt)
			if m.p.skip == SkipPastLastEvent {
				// No record of this match may be in another, this one
				// included: no partial survives and none begins.
				st.Partials = nil
				return out, nil
			}
			kept = m.skipAfter(kept, npm)
			continue
		}
		if keep {
			kept = append(kept, npm)
		}
	}
	st.Partials = kept
	return m.begin(st, v, ev, out)
}

// begin starts a partial match with the record if it fits the first step.
func (m *matcher[K, V]) begin(st *cepState, v V, ev cepEvent, out []Match[V]) ([]Match[V], error) {
	fresh := cepPartial{Start: ev.TS, StartSeq: st.Seq}
	mt0, err := m.partialMatch(fresh)
	if err != nil {
		return nil, err
	}
	if !m.p.steps[0].cond(v, mt0) {
		return out, nil
	}
	fresh.Count = 1
	ev.Step = 0
	fresh.Events = []cepEvent{ev}
	if m.complete(&fresh) {
		mt, err := m.match(fresh, false)
		if err != nil {
			return nil, err
		}
		st.Partials = m.skipAfter(st.Partials, fresh)
		return append(out, mt), nil
	}
	st.Partials = append(st.Partials, fresh)
	if over := len(st.Partials) - m.p.maxPartials; over > 0 {
		st.Partials = st.Partials[over:]
		m.tk.metrics.partialsDropped.Add(int64(over))
	}
	return out, nil
}

// advance offers a record to a partial match. It returns the partial as
// it is after, whether to keep it, and whether it is now a match.
func (m *matcher[K, V]) advance(pm cepPartial, v V, ev cepEvent) (cepPartial, bool, bool, error) {
	cur, err := m.partialMatch(pm)
	if err != nil {
		return pm, false, false, err
	}
	if pm.Done { // waiting on the negation
		return pm, !m.p.steps[len(m.p.steps)-1].cond(v, cur), false, nil
	}
	s := m.p.steps[pm.Step]
	if (s.max < 0 || pm.Count < s.max) && s.cond(v, cur) {
		return m.take(pm, pm.Step, ev)
	}
	strict := s.strict && pm.Count < s.min
	if pm.Count >= s.min {
		for j := pm.Step + 1; j < m.p.positive(); j++ {
			nj := m.p.steps[j]
			if nj.cond(v, cur) {
				return m.take(pm, j, ev)
			}
			strict = strict || nj.strict
			if nj.min > 0 {
				break
			}
		}
	}
	return pm, !strict, false, nil
}

func (m *matcher[K, V]) take(pm cepPartial, step int, ev cepEvent) (cepPartial, bool, bool, error) {
	if step != pm.Step {
		pm.Step, pm.Count = step, 0
	}
	pm.Count++
	ev.Step = step
	pm.Events = append(append([]cepEvent(nil), pm.Events...), ev)
	if m.complete(&pm) {
		return pm, false, true, nil
	}
	return pm, true, false, nil
}

// complete reports whether pm took every positive step; with a trailing
// negation it then waits (Done) instead of matching.
func (m *matcher[K, V]) complete(pm *cepPartial) bool {
	if pm.Count < m.p.steps[pm.Step].min {
		return false
	}
	for j := pm.Step + 1; j < m.p.positive(); j++ {
		if m.p.steps[j].min > 0 {
			return false
		}
	}
	if m.p.positive() < len(m.p.steps) {
		pm.Done = true
		return false
	}
	return true
}

// skipAfter applies the after-match skip strategy to the partial matches
// kept so far, after pm matched.
func (m *matcher[K, V]) skipAfter(kept []cepPartial, pm cepPartial) []cepPartial {
	switch m.p.skip {
	case SkipPastLastEvent:
		return kept[:0]
	case SkipToNext:
		out := kept[:0]
		for _, k := range kept {
			if k.StartSeq != pm.StartSeq {
				out = append(out, k)
			}
		}
		return out
	}
	return kept
}

// partialMatch decodes a partial match's records for conditions.
func (m *matcher[K, V]) partialMatch(pm cepPartial) (Match[V], error) {
	mt := Match[V]{Events: map[string][]V{}, Start: time.UnixMilli(pm.Start), End: time.UnixMilli(pm.Start)}
	for _, e := range pm.Events {
		v, err := m.vc.Decode(e.Value)
		if err != nil {
			return mt, fmt.Errorf("pattern: stored record: %w", err)
		}
		name := m.p.steps[e.Step].name
		mt.Events[name] = append(mt.Events[name], v)
		mt.End = time.UnixMilli(e.TS)
	}
	return mt, nil
}

func (m *matcher[K, V]) match(pm cepPartial, timedOut bool) (Match[V], error) {
	mt, err := m.partialMatch(pm)
	if timedOut {
		mt.TimedOut, mt.End = true, time.UnixMilli(pm.Start+m.p.within)
	}
	return mt, err
}

// expire handles the partial matches of every key whose time passed by
// stream time: a negation's waiting match is emitted, others dropped.
func (m *matcher[K, V]) expire() error {
	now := m.tk.streamTime
	if m.minDeadline < 0 || now <= m.minDeadline {
		return nil
	}
	m.minDeadline = -1
	var due []string
	for k, d := range m.deadlines {
		if now > d {
			due = append(due, k)
		} else if m.minDeadline < 0 || d < m.minDeadline {
			m.minDeadline = d
		}
	}
	// By deadline, then key: the order of the results does not depend on
	// map iteration.
	sort.Slice(due, func(i, j int) bool {
		di, dj := m.deadlines[due[i]], m.deadlines[due[j]]
		return di < dj || di == dj && due[i] < due[j]
	})
	for _, k := range due {
		if err := m.expireKey([]byte(k), now); err != nil {
			return err
		}
	}
	return nil
}

func (m *matcher[K, V]) expireKey(kb []byte, now int64) error {
	st, err := m.load(kb)
	if err != nil {
		return err
	}
	k, err := m.kc.Decode(kb)
	if err != nil {
		return fmt.Errorf("pattern: stored key: %w", err)
	}
	var kept []cepPartial
	var out []Match[V]
	for _, pm := range st.Partials {
		if now-pm.Start <= m.p.within {
			kept = append(kept, pm)
			continue
		}
		if pm.Done {
			mt, err := m.match(pm, true)
			if err != nil {
				return err
			}
			out = append(out, mt)
		}
	}
	st.Partials = kept
	if err := m.save(kb, st); err != nil {
		return err
	}
	for _, mt := range out {
		if err := m.next(k, mt, mt.End.UnixMilli()); err != nil {
			return err
		}
	}
	return nil
}

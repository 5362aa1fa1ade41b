package stream

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"
)

// sessionModel is the brute-force reference for session windows: each
// key's sessions as a plain list, merged by scanning all of them.
type sessionModel struct {
	gap, grace int64
	st         int64
	open       map[string][][3]int64 // key -> [start, end, count]
	closed     []string
	late       int
}

func (m *sessionModel) add(k string, ts int64) {
	m.st = max(m.st, ts)
	if ts < m.st-m.grace {
		m.late++
	} else {
		cur := [3]int64{ts, ts, 1}
		var rest [][3]int64
		for _, s := range m.open[k] {
			if s[1] >= ts-m.gap && s[0] <= ts+m.gap {
				cur = [3]int64{min(cur[0], s[0]), max(cur[1], s[1]), cur[2] + s[2]}
			} else {
				rest = append(rest, s)
			}
		}
		m.open[k] = append(rest, cur)
	}
	for key, ss := range m.open {
		var keep [][3]int64
		for _, s := range ss {
			if s[1] < m.st-m.gap-m.grace {
				m.closed = append(m.closed, fmt.Sprintf("%s[%d,%d]=%d", key, s[0], s[1], s[2]))
			} else {
				keep = append(keep, s)
			}
		}
		m.open[key] = keep
	}
}

// TestSessionWindowsAgainstModel feeds out-of-order records with late
// ones through session windows (emit on close) and compares the closed
// sessions with the model's.
func TestSessionWindowsAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		top := NewTopology()
		var got []string
		g := GroupByKey(Source(top, "in", String(), String()), String(), String())
		SessionCount(g, SessionWindows{Gap: 2 * time.Second, Grace: 3 * time.Second, OnClose: true}, "s").
			Foreach(func(w Windowed[string], n int64) {
				got = append(got, fmt.Sprintf("%s[%d,%d]=%d", w.Key, w.Start.Unix(), w.End.Unix(), n))
			})
		tk := localTask(t, top)
		m := &sessionModel{gap: 2000, grace: 3000, st: -1, open: map[string][][3]int64{}}
		var in []string
		for i := range 300 {
			sec := int64(10 + i/2 + rng.IntN(6) - 3)
			if rng.IntN(12) == 0 {
				sec -= 15
			}
			sec = max(sec, 0)
			k := fmt.Sprint("k", rng.IntN(3))
			in = append(in, fmt.Sprintf("%s:v@%d", k, sec))
			m.add(k, sec*1000)
		}
		feed(t, tk, "in", in...)
		for i := range m.closed { // the model works in ms, the output prints seconds
			var k string
			var s, e, n int64
			fmt.Sscanf(strings.NewReplacer("[", " ", ",", " ", "]=", " ").Replace(m.closed[i]), "%s %d %d %d", &k, &s, &e, &n)
			m.closed[i] = fmt.Sprintf("%s[%d,%d]=%d", k, s/1000, e/1000, n)
		}
		sort.Strings(got)
		sort.Strings(m.closed)
		if strings.Join(got, " ") != strings.Join(m.closed, " ") {
			t.Errorf("seed %d:\n got %v\nwant %v", seed, got, m.closed)
		}
		if int(tk.metrics.late.Load()) != m.late || m.late == 0 || len(got) < 20 {
			t.Errorf("seed %d: late %d, model %d; %d sessions", seed, tk.metrics.late.Load(), m.late, len(got))
		}
	}
}

package stream

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
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

// sessionTask builds top's first subtopology as one task over stores in
// dir, with no broker, calling before once its stores are open and
// before its start functions run (where a restore would write).
func sessionTask(t *testing.T, top *Topology, dir string, before func(tk *task)) *task {
	t.Helper()
	a, err := New(top, Config{AppID: "t", Brokers: []string{"unused:1"}, StateDir: dir,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	tk := &task{id: taskID{0, 0}, app: a, memo: map[int]any{}, handlers: map[string]recordFn{},
		stores: map[string]*kvStore{}, offsets: map[string]kgo.EpochOffset{}, streamTime: -1}
	for _, tp := range a.subs[0] {
		h, err := top.sources[tp].build(tk)
		if err != nil {
			t.Fatal(err)
		}
		tk.handlers[tp] = h
	}
	t.Cleanup(func() { tk.close(false) })
	if before != nil {
		before(tk)
	}
	for _, f := range tk.starts {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	return tk
}

// sessionTop is a session count (gap 2s, grace 3s) whose results go to
// *out as "key[start,end]=n" (seconds).
func sessionTop(onClose bool, out *[]string) *Topology {
	top := NewTopology()
	g := GroupByKey(Source(top, "in", String(), String()), String(), String())
	SessionCount(g, SessionWindows{Gap: 2 * time.Second, Grace: 3 * time.Second, OnClose: onClose}, "s").
		Foreach(func(w Windowed[string], n int64) {
			*out = append(*out, fmt.Sprintf("%s[%d,%d]=%d", w.Key, w.Start.Unix(), w.End.Unix(), n))
		})
	return top
}

// changelogOf returns the store's writes since its last commit, as the
// changelog records a commit produces, sorted by key.
func changelogOf(s *kvStore) []restoredRecord {
	var recs []restoredRecord
	s.eachDirty(func(k, v []byte) { recs = append(recs, restoredRecord{bytes.Clone(k), bytes.Clone(v)}) })
	sort.Slice(recs, func(i, j int) bool { return string(recs[i].key) < string(recs[j].key) })
	return recs
}

// TestSessionExtendWritesOneRecord: a record that extends its key's
// session at the end rewrites that session's value only (one changelog
// record); one that moves the start or merges deletes the keys it
// replaces.
func TestSessionExtendWritesOneRecord(t *testing.T) {
	var got []string
	tk := sessionTask(t, sessionTop(false, &got), t.TempDir(), nil)
	s := tk.stores["s"]
	feed(t, tk, "in", "a:v@20")
	if err := tk.commitLocal(); err != nil {
		t.Fatal(err)
	}
	feed(t, tk, "in", "a:v@21") // extends [20,20] at its end
	recs := changelogOf(s)
	if len(recs) != 1 || !bytes.Equal(recs[0].key, sessionKey([]byte("a"), 20000)) ||
		int64(binary.BigEndian.Uint64(recs[0].value)) != 21000 {
		t.Fatalf("extend at the end: changelog %q, want one record for a@20 with end 21000", recs)
	}
	if err := tk.commitLocal(); err != nil {
		t.Fatal(err)
	}
	feed(t, tk, "in", "a:v@19") // moves [20,21]'s start
	feed(t, tk, "in", "a:v@24") // a new session
	feed(t, tk, "in", "a:v@22") // merges [19,21] and [24,24]
	recs = changelogOf(s)
	want := []restoredRecord{{key: sessionKey([]byte("a"), 19000)}, {key: sessionKey([]byte("a"), 20000)}, {key: sessionKey([]byte("a"), 24000)}}
	if len(recs) != 3 || recs[1].value != nil || recs[2].value != nil || recs[0].value == nil ||
		!bytes.Equal(recs[0].key, want[0].key) || !bytes.Equal(recs[1].key, want[1].key) || !bytes.Equal(recs[2].key, want[2].key) {
		t.Fatalf("move and merge: changelog %q, want a@19 written, a@20 and a@24 deleted", recs)
	}
	if w := "a[19,24]=5"; got[len(got)-1] != w {
		t.Errorf("updates %v, want the last %s", got, w)
	}
}

// TestSessionWindowsEmitOnUpdateAgainstModel: with emit on update, each
// record that is not late emits its session as the model has it then.
func TestSessionWindowsEmitOnUpdateAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		var got []string
		tk := sessionTask(t, sessionTop(false, &got), t.TempDir(), nil)
		m := &sessionModel{gap: 2000, grace: 3000, st: -1, open: map[string][][3]int64{}}
		var want []string
		for i := range 300 {
			sec := max(int64(10+i/2+rng.IntN(6)-3), 0)
			if rng.IntN(12) == 0 {
				sec = max(sec-15, 0)
			}
			k := fmt.Sprint("k", rng.IntN(3))
			late := m.late
			m.add(k, sec*1000)
			if m.late == late {
				ss := m.open[k]
				s := ss[len(ss)-1] // add appends the record's session last
				want = append(want, fmt.Sprintf("%s[%d,%d]=%d", k, s[0]/1000, s[1]/1000, s[2]))
			}
			feed(t, tk, "in", fmt.Sprintf("%s:v@%d", k, sec))
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("seed %d:\n got %v\nwant %v", seed, got, want)
		}
	}
}

// TestSessionRestoreAgainstModel: a task restored from its changelog
// (committed every few records) into an empty store goes on closing the
// sessions the model closes.
func TestSessionRestoreAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	m := &sessionModel{gap: 2000, grace: 3000, st: -1, open: map[string][][3]int64{}}
	var got []string
	tk := sessionTask(t, sessionTop(true, &got), t.TempDir(), nil)
	var changelog []restoredRecord
	for i := range 400 {
		sec := max(int64(10+i/2+rng.IntN(6)-3), 0)
		k := fmt.Sprint("k", rng.IntN(4))
		m.add(k, sec*1000)
		feed(t, tk, "in", fmt.Sprintf("%s:v@%d", k, sec))
		if i%7 == 6 {
			changelog = append(changelog, changelogOf(tk.stores["s"])...)
			if err := tk.commitLocal(); err != nil {
				t.Fatal(err)
			}
		}
		if i == 202 || i == 300 { // right after a commit: nothing lost // restart from the changelog into an empty store
			st := tk.streamTime
			tk = sessionTask(t, sessionTop(true, &got), t.TempDir(), func(tk *task) {
				if err := tk.stores["s"].applyRestored(changelog, int64(len(changelog))); err != nil {
					t.Fatal(err)
				}
			})
			tk.streamTime = st // not persisted: carried over to compare with the model
		}
	}
	for i := range m.closed {
		var k string
		var s, e, n int64
		fmt.Sscanf(strings.NewReplacer("[", " ", ",", " ", "]=", " ").Replace(m.closed[i]), "%s %d %d %d", &k, &s, &e, &n)
		m.closed[i] = fmt.Sprintf("%s[%d,%d]=%d", k, s/1000, e/1000, n)
	}
	sort.Strings(got)
	sort.Strings(m.closed)
	if strings.Join(got, " ") != strings.Join(m.closed, " ") || len(got) < 20 {
		t.Errorf("\n got %v\nwant %v", got, m.closed)
	}
}

// TestSessionStoreMigratesOldFormat: a store written in the old format
// ('s' keyed by end, 'e' index) is rewritten in the format at the task's
// start, old keys tombstoned in the changelog, and its sessions go on.
func TestSessionStoreMigratesOldFormat(t *testing.T) {
	oldKey := func(k string, start, end int64) []byte {
		b := binary.BigEndian.AppendUint32([]byte{'s'}, uint32(len(k)))
		b = binary.BigEndian.AppendUint64(append(b, k...), uint64(end))
		return binary.BigEndian.AppendUint64(b, uint64(start))
	}
	oldEnd := func(k string, start, end int64) []byte {
		b := binary.BigEndian.AppendUint64([]byte{'e'}, uint64(end))
		return append(binary.BigEndian.AppendUint64(b, uint64(start)), k...)
	}
	count := func(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }
	var got []string
	tk := sessionTask(t, sessionTop(false, &got), t.TempDir(), func(tk *task) {
		old := []restoredRecord{
			{oldKey("a", 10000, 12000), count(3)}, {oldEnd("a", 10000, 12000), []byte{}},
			{oldKey("a", 16000, 16000), count(1)}, {oldEnd("a", 16000, 16000), []byte{}},
			{oldKey("bb", 11000, 11000), count(1)}, {oldEnd("bb", 11000, 11000), []byte{}},
		}
		if err := tk.stores["s"].applyRestored(old, int64(len(old))); err != nil {
			t.Fatal(err)
		}
	})
	recs := changelogOf(tk.stores["s"])
	var puts, dels []string
	for _, r := range recs {
		if r.value == nil {
			dels = append(dels, fmt.Sprintf("%q", r.key))
		} else {
			puts = append(puts, fmt.Sprintf("%q=%x", r.key, r.value))
		}
	}
	wantPuts := []string{
		fmt.Sprintf("%q=%x", sessionKey([]byte("a"), 10000), append(count(12000), count(3)...)),
		fmt.Sprintf("%q=%x", sessionKey([]byte("a"), 16000), append(count(16000), count(1)...)),
		fmt.Sprintf("%q=%x", sessionKey([]byte("bb"), 11000), append(count(11000), count(1)...)),
	}
	if strings.Join(puts, " ") != strings.Join(wantPuts, " ") || len(dels) != 6 {
		t.Fatalf("migration changelog: puts %v, want %v; %d deletes, want 6", puts, wantPuts, len(dels))
	}
	feed(t, tk, "in", "a:v@13", "bb:v@12", "a:v@14")
	want := "a[10,13]=4 bb[11,12]=2 a[10,16]=6"
	if strings.Join(got, " ") != want {
		t.Errorf("after migration: %v, want %s", got, want)
	}
}

// BenchmarkSessionExtend: records that extend their key's session at its
// end (1,000 keys, in order), through a task without a broker; a commit
// every 10,000 records. Reports allocations per record.
func BenchmarkSessionExtend(b *testing.B) {
	top := NewTopology()
	g := GroupByKey(Source(top, "in", Bytes(), Bytes()), Bytes(), Bytes())
	SessionCount(g, SessionWindows{Gap: 15 * time.Second, Grace: 10 * time.Second}, "s")
	a, err := New(top, Config{AppID: "t", Brokers: []string{"unused:1"}, StateDir: b.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	tk := &task{id: taskID{0, 0}, app: a, memo: map[int]any{}, handlers: map[string]recordFn{},
		stores: map[string]*kvStore{}, offsets: map[string]kgo.EpochOffset{}, streamTime: -1}
	h, err := top.sources["in"].build(tk)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tk.close(false) })
	for _, f := range tk.starts {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	keys := make([][]byte, 1000)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key-%05d", i)
	}
	base := time.UnixMilli(1_700_000_000_000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r := &kgo.Record{Topic: "in", Key: keys[i%len(keys)], Value: []byte("v"), Timestamp: base.Add(time.Duration(i) * time.Millisecond)}
		tk.streamTime = max(tk.streamTime, r.Timestamp.UnixMilli())
		if err := h(r); err != nil {
			b.Fatal(err)
		}
		if i%10_000 == 9_999 {
			if err := tk.commitLocal(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

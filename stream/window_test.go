package stream_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/stream"
)

// winKey is a window of a key, as the model and the outputs name it.
type winKey struct {
	key   string
	start int64
}

// windowModel is the brute-force reference: every window of every key,
// computed record by record with the watermark rule, nothing shared with
// the implementation.
type windowModel struct {
	size, advance, grace int64
	updates              int              // (record, window) pairs taken
	late                 int              // records with no open window
	counts               map[winKey]int64 // every window's count
	streamTime           int64
}

func (m *windowModel) add(key string, ts int64) {
	m.streamTime = max(m.streamTime, ts)
	closeTime := m.streamTime - m.grace
	taken := false
	for s := int64(0); s <= ts; s += m.advance {
		if s+m.size <= ts || s+m.size <= closeTime {
			continue
		}
		m.counts[winKey{key, s}]++
		m.updates++
		taken = true
	}
	if !taken {
		m.late++
	}
}

// closed is the windows closed at the end, with their final counts.
func (m *windowModel) closed() map[winKey]int64 {
	out := map[winKey]int64{}
	for w, n := range m.counts {
		if w.start+m.size <= m.streamTime-m.grace {
			out[w] = n
		}
	}
	return out
}

// genRecords makes n records over 5 keys: time mostly moves forward, with
// jitter, some records up to 20s out of order and a few far too late.
func genRecords(seed uint64, n int) []*kgo.Record {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var out []*kgo.Record
	for i := range n {
		ts := int64(100_000 + i*700 + rng.IntN(4000) - 2000)
		switch rng.IntN(10) {
		case 0:
			ts -= int64(rng.IntN(20_000)) // out of order, often within grace
		case 1:
			ts -= 60_000 // late past any grace
		}
		out = append(out, recAt(fmt.Sprintf("k%d", rng.IntN(5)), "v", ts))
	}
	return out
}

func decodeWin(t *testing.T, r *kgo.Record) (winKey, int64) {
	t.Helper()
	w, err := stream.WindowedCodec(stream.String()).Decode(r.Key)
	if err != nil {
		t.Fatal(err)
	}
	n, err := stream.Int64().Decode(r.Value)
	if err != nil {
		t.Fatal(err)
	}
	if w.End.Sub(w.Start) <= 0 {
		t.Fatalf("window %v..%v", w.Start, w.End)
	}
	return winKey{w.Key, w.Start.UnixMilli()}, n
}

// TestWindowsAgainstModel runs tumbling windows (emit on close) and
// hopping windows (emit on update) over generated out-of-order input with
// late records, and checks every output against the brute-force model.
func TestWindowsAgainstModel(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			b := newBrokerWith(t, map[string]int32{"ev": 1, "tumbling": 1, "hopping": 1})
			recs := genRecords(seed, 400)
			tum := &windowModel{size: 10_000, advance: 10_000, grace: 5_000, counts: map[winKey]int64{}}
			hop := &windowModel{size: 10_000, advance: 3_000, grace: 2_000, counts: map[winKey]int64{}}
			for _, r := range recs {
				ts := r.Timestamp.UnixMilli()
				tum.add(string(r.Key), ts)
				hop.add(string(r.Key), ts)
			}
			produce(t, b.Addr(), "ev", recs...)
			tumOut, hopOut := collect(t, b.Addr(), "tumbling"), collect(t, b.Addr(), "hopping")

			top := stream.NewTopology()
			g := stream.GroupByKey(stream.Source(top, "ev", stream.String(), stream.String()), stream.String(), stream.String())
			wc := stream.WindowedCodec(stream.String())
			stream.WindowedCount(g, stream.Tumbling(10*time.Second).Grace(5*time.Second).EmitOnClose(), "tum").To("tumbling", wc, stream.Int64())
			stream.WindowedCount(g, stream.Hopping(10*time.Second, 3*time.Second).Grace(2*time.Second), "hop").To("hopping", wc, stream.Int64())
			r := start(t, top, stream.Config{AppID: "win", Brokers: []string{b.Addr()}, StateDir: t.TempDir()})

			wantClosed := tum.closed()
			t.Logf("model: tumbling %d windows closed, %d late; hopping %d updates, %d late", len(wantClosed), tum.late, hop.updates, hop.late)
			testenv.CheckFor(t, 30*time.Second, func() error {
				if n := len(hopOut.all()); n != hop.updates {
					return fmt.Errorf("hopping: %d updates, model %d", n, hop.updates)
				}
				if n := len(tumOut.all()); n != len(wantClosed) {
					return fmt.Errorf("tumbling: %d closed windows emitted, model %d", n, len(wantClosed))
				}
				return nil
			})
			seen := map[winKey]bool{}
			for _, rec := range tumOut.all() {
				w, n := decodeWin(t, rec)
				if seen[w] {
					t.Errorf("tumbling window %v emitted twice", w)
				}
				seen[w] = true
				if want, ok := wantClosed[w]; !ok || n != want {
					t.Errorf("tumbling window %v: got %d, model %d (closed %v)", w, n, want, ok)
				}
			}
			latest := map[winKey]int64{}
			for _, rec := range hopOut.all() {
				w, n := decodeWin(t, rec)
				if n != latest[w]+1 {
					t.Errorf("hopping window %v: update %d after %d", w, n, latest[w])
				}
				latest[w] = n
			}
			if fmt.Sprint(sortedWins(latest)) != fmt.Sprint(sortedWins(hop.counts)) {
				t.Errorf("hopping windows differ from the model:\n got %v\nwant %v", sortedWins(latest), sortedWins(hop.counts))
			}
			// Interactive query: the hopping windows still open hold the
			// model's counts.
			for _, key := range []string{"k0", "k1"} {
				got, err := stream.FetchWindows(r.app, "hop", key, stream.String(), stream.Int64(), 10*time.Second, time.UnixMilli(0), time.UnixMilli(1<<40))
				if err != nil {
					t.Fatal(err)
				}
				if len(got) == 0 {
					t.Errorf("%s: no open window", key)
				}
				for _, w := range got {
					if want := hop.counts[winKey{key, w.Start.UnixMilli()}]; w.Value != want || w.End.Sub(w.Start) != 10*time.Second {
						t.Errorf("%s window %v: %d, model %d", key, w.Start.UnixMilli(), w.Value, want)
					}
				}
			}
			var late int64
			for _, m := range r.app.Metrics() {
				late += m.Late
			}
			if late != int64(tum.late+hop.late) || tum.late == 0 {
				t.Errorf("late = %d, model %d+%d", late, tum.late, hop.late)
			}
		})
	}
}

func sortedWins(m map[winKey]int64) []string {
	var out []string
	for w, n := range m {
		out = append(out, fmt.Sprintf("%s@%d=%d", w.key, w.start, n))
	}
	sort.Strings(out)
	return out
}

// TestWindowRestore: a new instance with an empty state dir restores the
// open windows from the changelog and goes on counting in them.
func TestWindowRestore(t *testing.T) {
	b := newBrokerWith(t, map[string]int32{"ev": 1, "counts": 1})
	out := collect(t, b.Addr(), "counts")
	build := func() *stream.Topology {
		top := stream.NewTopology()
		g := stream.GroupByKey(stream.Source(top, "ev", stream.String(), stream.String()), stream.String(), stream.String())
		stream.WindowedCount(g, stream.Tumbling(10*time.Second).Grace(time.Minute), "w").
			To("counts", stream.WindowedCodec(stream.String()), stream.Int64())
		return top
	}
	cfg := stream.Config{AppID: "wr", Brokers: []string{b.Addr()}, StateDir: t.TempDir(), CommitInterval: 50 * time.Millisecond}
	produce(t, b.Addr(), "ev", recAt("k", "v", 1_000), recAt("k", "v", 2_000), recAt("k", "v", 11_000))
	r := start(t, build(), cfg)
	waitCount := func(want map[winKey]int64) {
		t.Helper()
		testenv.CheckFor(t, 30*time.Second, func() error {
			got := map[winKey]int64{}
			for _, rec := range out.all() {
				w, n := decodeWin(t, rec)
				got[w] = n
			}
			for w, n := range want {
				if got[w] != n {
					return fmt.Errorf("window %v: %d, want %d", w, got[w], n)
				}
			}
			return nil
		})
	}
	waitCount(map[winKey]int64{{"k", 0}: 2, {"k", 10_000}: 1})
	r.stop(t)
	cfg.StateDir = t.TempDir()
	r = start(t, build(), cfg)
	produce(t, b.Addr(), "ev", recAt("k", "v", 3_000), recAt("k", "v", 12_000))
	waitCount(map[winKey]int64{{"k", 0}: 3, {"k", 10_000}: 2})
	// The restore's progress: both windows, the whole changelog read.
	rp := r.app.RestoreProgress()
	if len(rp) != 1 || rp[0].Store != "w" || !rp[0].Done || rp[0].Err != "" || rp[0].Restored < 2 ||
		rp[0].Offset != rp[0].To || rp[0].From != 0 || int64(len(r.app.Metrics())) != 1 || r.app.Metrics()[0].Restored != rp[0].Restored {
		t.Errorf("restore progress %+v, metrics %+v", rp, r.app.Metrics())
	}
}

// slidingModel is the brute-force reference for sliding windows: after
// every record it lists, from scratch, the windows the accepted records
// of the key define ([t-d, t] per record; [t+1, t+1+d] per record with a
// later one within d) and counts their records.
type slidingModel struct {
	d, grace   int64
	recs       map[string][]int64 // accepted records per key
	streamTime int64
	late       int
	updates    []string         // "key@start=count" in emission order
	counts     map[winKey]int64 // every window's last count
}

func (m *slidingModel) windows(recs []int64) map[int64]bool {
	out := map[int64]bool{}
	for _, t := range recs {
		out[t-m.d] = true
		for _, r := range recs {
			if r > t && r <= t+1+m.d {
				out[t+1] = true
			}
		}
	}
	return out
}

func (m *slidingModel) add(key string, ts int64) {
	m.streamTime = max(m.streamTime, ts)
	closeTime := m.streamTime - m.grace
	if ts+m.d+1 < closeTime {
		m.late++
		return
	}
	before := m.windows(m.recs[key])
	m.recs[key] = append(m.recs[key], ts)
	after := m.windows(m.recs[key])
	var starts []int64
	for s := range after {
		if s+m.d >= closeTime && ((s <= ts && ts <= s+m.d) || !before[s]) {
			starts = append(starts, s)
		}
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	for _, s := range starts {
		var n int64
		for _, r := range m.recs[key] {
			if r >= s && r <= s+m.d {
				n++
			}
		}
		m.counts[winKey{key, s}] = n
		m.updates = append(m.updates, fmt.Sprintf("%s@%d=%d", key, s, n))
	}
}

// closed is the windows closed at the end, with their final counts.
func (m *slidingModel) closed() map[winKey]int64 {
	out := map[winKey]int64{}
	for w, n := range m.counts {
		if w.start+m.d < m.streamTime-m.grace {
			out[w] = n
		}
	}
	return out
}

// TestSlidingWindowsAgainstModel runs sliding windows (emit on update and
// on close) over generated out-of-order input with late records: the
// updates must be the model's, in its order, and the closed windows its
// closed windows.
func TestSlidingWindowsAgainstModel(t *testing.T) {
	for _, seed := range []uint64{0, 1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			b := newBrokerWith(t, map[string]int32{"ev": 1, "updates": 1, "closed": 1})
			recs := genRecords(seed, 300)
			if seed == 0 {
				recs = slidingEdges()
			}
			m := &slidingModel{d: 5_000, grace: 2_000, recs: map[string][]int64{}, counts: map[winKey]int64{}}
			for _, r := range recs {
				m.add(string(r.Key), r.Timestamp.UnixMilli())
			}
			produce(t, b.Addr(), "ev", recs...)
			upd, cls := collect(t, b.Addr(), "updates"), collect(t, b.Addr(), "closed")

			top := stream.NewTopology()
			g := stream.GroupByKey(stream.Source(top, "ev", stream.String(), stream.String()), stream.String(), stream.String())
			wc := stream.WindowedCodec(stream.String())
			w := stream.Sliding(5 * time.Second).Grace(2 * time.Second)
			stream.WindowedCount(g, w, "upd").To("updates", wc, stream.Int64())
			stream.WindowedCount(g, w.EmitOnClose(), "cls").To("closed", wc, stream.Int64())
			r := start(t, top, stream.Config{AppID: "slide", Brokers: []string{b.Addr()}, StateDir: t.TempDir()})

			wantClosed := m.closed()
			if m.late == 0 || len(wantClosed) == 0 || len(m.updates) == 0 {
				t.Fatalf("input too tame: %d late, %d closed", m.late, len(wantClosed))
			}
			testenv.CheckFor(t, 30*time.Second, func() error {
				if n := len(upd.all()); n != len(m.updates) {
					return fmt.Errorf("%d updates, model %d", n, len(m.updates))
				}
				if n := len(cls.all()); n != len(wantClosed) {
					return fmt.Errorf("%d closed windows emitted, model %d", n, len(wantClosed))
				}
				return nil
			})
			for i, rec := range upd.all() {
				w, n := decodeWin(t, rec)
				if got := fmt.Sprintf("%s@%d=%d", w.key, w.start, n); got != m.updates[i] {
					t.Fatalf("update %d: %s, model %s", i, got, m.updates[i])
				}
			}
			seen := map[winKey]bool{}
			for _, rec := range cls.all() {
				w, n := decodeWin(t, rec)
				if seen[w] {
					t.Errorf("window %v emitted twice", w)
				}
				seen[w] = true
				if want, ok := wantClosed[w]; !ok || n != want {
					t.Errorf("closed window %v: got %d, model %d (closed %v)", w, n, want, ok)
				}
			}
			// Interactive query: the open windows are the model's.
			for i := range 5 {
				key := fmt.Sprintf("k%d", i)
				got, err := stream.FetchWindows(r.app, "upd", key, stream.String(), stream.Int64(), 5*time.Second, time.UnixMilli(-1<<40), time.UnixMilli(1<<40))
				if err != nil {
					t.Fatal(err)
				}
				open := map[winKey]int64{}
				for _, w := range got {
					open[winKey{key, w.Start.UnixMilli()}] = w.Value
					if w.End.Sub(w.Start) != 5*time.Second {
						t.Errorf("%s window %v ends at %v", key, w.Start, w.End)
					}
				}
				want := map[winKey]int64{}
				for w, n := range m.counts {
					if _, closed := wantClosed[w]; w.key == key && !closed {
						want[w] = n
					}
				}
				if fmt.Sprint(sortedWins(open)) != fmt.Sprint(sortedWins(want)) {
					t.Errorf("%s open windows:\n got %v\nwant %v", key, sortedWins(open), sortedWins(want))
				}
				// The same over HTTP.
				rr := httptest.NewRecorder()
				r.app.ServeHTTP(rr, httptest.NewRequest("GET", "/stores/upd/keys/"+key+"/windows?from=-1000000", nil))
				var body struct {
					Windows []struct {
						Start, End time.Time
						Value      int64
					}
				}
				if err := json.Unmarshal(rr.Body.Bytes(), &body); err != nil || rr.Code != 200 {
					t.Fatalf("GET windows of %s: %d %s", key, rr.Code, rr.Body)
				}
				overHTTP := map[winKey]int64{}
				for _, w := range body.Windows {
					overHTTP[winKey{key, w.Start.UnixMilli()}] = w.Value
				}
				if fmt.Sprint(sortedWins(overHTTP)) != fmt.Sprint(sortedWins(want)) {
					t.Errorf("%s open windows over HTTP:\n got %v\nwant %v", key, sortedWins(overHTTP), sortedWins(want))
				}
			}
			var late int64
			for _, mt := range r.app.Metrics() {
				late += mt.Late
			}
			if late != int64(2*m.late) {
				t.Errorf("late = %d, model 2*%d", late, m.late)
			}
		})
	}
}

// slidingEdges are records on the edges of 5s sliding windows with 2s
// grace: a later record exactly d+1 after an earlier one (arriving
// first), equal timestamps, a record just inside and one just past the
// late bound, and windows that close.
func slidingEdges() []*kgo.Record {
	var out []*kgo.Record
	for _, ts := range []int64{20_000, 15_001, 10_000, 10_000, 14_999, 25_001, 30_000, 22_000, 22_998, 22_997, 40_000, 33_000, 60_000} {
		out = append(out, recAt("k0", "v", ts), recAt("k1", "v", ts+1))
	}
	return out
}

// TestWindowRestoreDropsClosed: a closed window leaves the store without
// a tombstone in the changelog (its retention drops it), and a restore
// from the changelog does not bring it back.
func TestWindowRestoreDropsClosed(t *testing.T) {
	b := newBrokerWith(t, map[string]int32{"ev": 1, "counts": 1})
	out := collect(t, b.Addr(), "counts")
	build := func() *stream.Topology {
		top := stream.NewTopology()
		g := stream.GroupByKey(stream.Source(top, "ev", stream.String(), stream.String()), stream.String(), stream.String())
		stream.WindowedCount(g, stream.Tumbling(10*time.Second).Grace(time.Second), "w").
			To("counts", stream.WindowedCodec(stream.String()), stream.Int64())
		return top
	}
	cfg := stream.Config{AppID: "wd", Brokers: []string{b.Addr()}, StateDir: t.TempDir(), CommitInterval: 50 * time.Millisecond}
	produce(t, b.Addr(), "ev", recAt("k", "v", 1_000), recAt("k", "v", 2_000))
	r := start(t, build(), cfg)
	waitUpdates := func(n int) {
		t.Helper()
		testenv.CheckFor(t, 30*time.Second, func() error {
			if got := len(out.all()); got != n {
				return fmt.Errorf("%d updates, want %d", got, n)
			}
			return nil
		})
	}
	waitUpdates(2)
	r.stop(t) // window [0, 10s) is in the changelog
	r = start(t, build(), cfg)
	produce(t, b.Addr(), "ev", recAt("k", "v", 25_000)) // closes it
	waitUpdates(3)
	r.stop(t)
	changelog := collect(t, b.Addr(), "wd-w-changelog")
	cfg.StateDir = t.TempDir()
	r = start(t, build(), cfg)
	testenv.CheckFor(t, 30*time.Second, func() error {
		if len(r.app.Metrics()) != 1 || len(changelog.all()) == 0 {
			return fmt.Errorf("not started or restored yet")
		}
		return nil
	})
	for _, rec := range changelog.all() {
		if rec.Value == nil {
			t.Errorf("tombstone %q in the changelog", rec.Key)
		}
	}
	got, err := stream.FetchWindows(r.app, "w", "k", stream.String(), stream.Int64(), 10*time.Second, time.UnixMilli(0), time.UnixMilli(1<<40))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Start.UnixMilli() != 20_000 || got[0].Value != 1 {
		t.Errorf("windows after restore: %+v, want only [20s, 30s) = 1", got)
	}
}

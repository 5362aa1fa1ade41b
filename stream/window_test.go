package stream_test

import (
	"fmt"
	"math/rand/v2"
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
	start(t, build(), cfg)
	produce(t, b.Addr(), "ev", recAt("k", "v", 3_000), recAt("k", "v", 12_000))
	waitCount(map[winKey]int64{{"k", 0}: 3, {"k", 10_000}: 2})
}

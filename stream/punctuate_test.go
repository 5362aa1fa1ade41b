package stream_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/stream"
)

// TestPunctuate: a stream-time punctuator runs when the records' time
// passes each interval (once for a jump over several), a wall-clock one
// runs on its own with no records coming, and both show in the task's
// punctuation metrics.
func TestPunctuate(t *testing.T) {
	b := newBrokerWith(t, map[string]int32{"ev": 1, "ticks": 1, "beats": 1})
	ticks, beats := collect(t, b.Addr(), "ticks"), collect(t, b.Addr(), "beats")
	top := stream.NewTopology()
	src := stream.Source(top, "ev", stream.String(), stream.String())
	onlyTicks := func(k, _ string) bool { return k == "tick" }
	stream.Punctuate(src, 10*time.Second, stream.StreamTime, func(task string, now time.Time, emit func(string, string)) error {
		emit("tick", fmt.Sprintf("%s@%d", task, now.UnixMilli()))
		return nil
	}).Filter(onlyTicks).To("ticks", stream.String(), stream.String())
	stream.Punctuate(src, 50*time.Millisecond, stream.WallClock, func(task string, _ time.Time, emit func(string, string)) error {
		emit("beat", task)
		return nil
	}).Filter(func(k, _ string) bool { return k == "beat" }).To("beats", stream.String(), stream.String())
	produce(t, b.Addr(), "ev", recAt("a", "1", 1_000), recAt("a", "2", 5_000), recAt("a", "3", 11_000),
		recAt("a", "4", 12_000), recAt("a", "5", 35_000), recAt("a", "6", 36_000))
	r := start(t, top, stream.Config{AppID: "punct", Brokers: []string{b.Addr()}, StateDir: t.TempDir()})
	// First record at 1s: due at 11s; ran at 11s, due at 21s; 35s jumps
	// past it, one run, due at 41s.
	waitLatest(t, ticks, map[string]string{"tick": "0_0@35000"})
	var got []string
	for _, rec := range ticks.all() {
		got = append(got, string(rec.Value))
	}
	if fmt.Sprint(got) != "[0_0@11000 0_0@35000]" {
		t.Errorf("stream-time punctuations %v, want [0_0@11000 0_0@35000]", got)
	}
	testenv.CheckFor(t, 30*time.Second, func() error {
		if n := len(beats.all()); n < 5 {
			return fmt.Errorf("%d wall-clock punctuations", n)
		}
		return nil
	})
	m := r.app.Metrics()
	if len(m) != 1 || m[0].Punctuations < 7 || m[0].PunctuateMax <= 0 || m[0].PunctuateTotal < m[0].PunctuateMax {
		t.Errorf("metrics %+v", m)
	}
}

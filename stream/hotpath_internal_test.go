package stream

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// benchTask builds one task of top over a fresh state dir, without a
// cluster: the processors, their stores and caches, as the poll loop
// drives them; commits write pebble (no changelog).
func benchTask(b *testing.B, top *Topology) *task {
	a, err := New(top, Config{AppID: "hp", Brokers: []string{"unused:9092"}, StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	tk := &task{id: taskID{0, 0}, app: a, memo: map[int]any{}, handlers: map[string]recordFn{},
		stores: map[string]*kvStore{}, offsets: map[string]kgo.EpochOffset{}, streamTime: -1}
	h, err := top.sources["in"].build(tk)
	if err != nil {
		b.Fatal(err)
	}
	tk.handlers["in"] = h
	for _, f := range tk.starts {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { tk.close(false) })
	return tk
}

// hotRecords are batches of records over 10,000 keys, 1ms of event time
// apart, as fetches bring them.
func hotRecords(n int) [][]*kgo.Record {
	base := time.UnixMilli(1_700_000_000_000)
	var out [][]*kgo.Record
	for i := 0; i < n; i += 500 {
		batch := make([]*kgo.Record, 0, 500)
		for j := i; j < min(n, i+500); j++ {
			batch = append(batch, &kgo.Record{Topic: "in", Key: fmt.Appendf(nil, "key-%05d", j%10_000), Value: []byte("v"),
				Timestamp: base.Add(time.Duration(j) * time.Millisecond), Offset: int64(j)})
		}
		out = append(out, batch)
	}
	return out
}

// runHot feeds b.N records through tk, committing to pebble every
// 100,000 (the default MaxCachedWrites bound is on keys; the count has
// 10,000), and reports allocations per record.
func runHot(b *testing.B, tk *task) {
	batches := hotRecords(200_000)
	b.ReportAllocs()
	b.ResetTimer()
	done := 0
	for done < b.N {
		for _, batch := range batches {
			if done >= b.N {
				break
			}
			batch = batch[:min(len(batch), b.N-done)]
			if err := tk.processRecords("in", batch); err != nil {
				b.Fatal(err)
			}
			done += len(batch)
			if done%100_000 < len(batch) {
				if err := tk.commitLocal(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// BenchmarkHotCount is the keyed count's per-record work in a task, with
// no broker: decode, store read (cache, then pebble), fold, cache write.
//
//	go test ./stream -run '^$' -bench Hot -benchmem
func BenchmarkHotCount(b *testing.B) {
	top := NewTopology()
	Count(GroupByKey(Source(top, "in", Bytes(), Bytes()), Bytes(), Bytes()), "counts")
	runHot(b, benchTask(b, top))
}

// BenchmarkHotTumbling is the 1-minute tumbling window count's.
func BenchmarkHotTumbling(b *testing.B) {
	top := NewTopology()
	WindowedCount(GroupByKey(Source(top, "in", Bytes(), Bytes()), Bytes(), Bytes()), Tumbling(time.Minute).Grace(10*time.Second), "win")
	runHot(b, benchTask(b, top))
}

package compat

import (
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRestart: each client produces, the broker restarts, the client reads
// everything back, produces more with the same (reconnecting) producer,
// the broker restarts again, and every acknowledged record is there, at
// the offset it was acknowledged at.
func TestRestart(t *testing.T) {
	tg := startBroker(t)
	if ok, why := tg.canRestart(); !ok {
		t.Skip(why)
	}
	for _, c := range clients() {
		t.Run(c.name, func(t *testing.T) { restartScenario(t, tg, c) })
	}
}

func restartScenario(t *testing.T, tg target, c client) {
	const n = 50
	partCodecs := []codec{codecZstd, codecNone}
	topic := topicName(t)
	createTopic(t, tg, topic, int32(len(partCodecs)), nil)
	s := c.open(t, tg)
	rng := mrand.New(mrand.NewPCG(4, 4))
	want := make([][]record, len(partCodecs))
	win := window{from: time.Now()}

	produce := func(phase string) {
		t.Helper()
		for p, cd := range partCodecs {
			recs := genRecords(rng, n, int32(p), c.caps)
			offsets, err := s.produce(testCtx(t, 30*time.Second), topic, cd, recs)
			if err != nil {
				t.Fatalf("%s: produce to partition %d: %v", phase, p, err)
			}
			checkAckedOffsets(t, cd, offsets, int64(len(want[p])))
			want[p] = append(want[p], recs...)
		}
		win.to = time.Now()
	}
	readAll := func(phase string) {
		t.Helper()
		ends := endOffsets(t, tg, topic)
		for p := range partCodecs {
			if ends[int32(p)] != int64(len(want[p])) {
				t.Errorf("%s: partition %d high watermark %d, want %d", phase, p, ends[int32(p)], len(want[p]))
			}
			got, err := s.consume(testCtx(t, 30*time.Second), topic, int32(p), 0, len(want[p]))
			if err != nil {
				t.Fatalf("%s: consume partition %d: %v", phase, p, err)
			}
			compareRecords(t, want[p], got, 0, c.readsNulls, win)
		}
	}

	produce("before the first restart")
	tg.Restart(t)
	readAll("after the first restart")
	produce("after the first restart")
	tg.Restart(t)
	readAll("after the second restart")
}

// TestRestartUnderLoad: franz-go produces without pause (acks=all,
// idempotent) while the broker restarts. Every record the broker
// acknowledged must afterwards be at its acknowledged offset, and no
// acknowledged record may be stored twice.
func TestRestartUnderLoad(t *testing.T) {
	tg := startBroker(t)
	if ok, why := tg.canRestart(); !ok {
		t.Skip(why)
	}
	const partitions = 3
	topic := topicName(t)
	createTopic(t, tg, topic, partitions, nil)
	cl := newKgo(t, tg, kgo.MaxBufferedRecords(2000), kgo.ProducerBatchCompression(kgo.Lz4Compression()))

	var (
		mu     sync.Mutex
		acked  = make(map[string]*kgo.Record) // by value
		failed atomic.Int64
		nacked atomic.Int64
	)
	stop := make(chan struct{})
	produced := make(chan struct{})
	// Produce blocks while MaxBufferedRecords are buffered; ctx bounds
	// that if the broker never comes back.
	ctx := testCtx(t, 60*time.Second)
	go func() {
		defer close(produced)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "rec-%08d-%0100d", i, i)}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
					return
				}
				mu.Lock()
				acked[string(r.Value)] = r
				mu.Unlock()
				nacked.Add(1)
			})
		}
	}()
	waitAcked := func(n int64) {
		t.Helper()
		checkFor(t, 30*time.Second, func() error {
			if got := nacked.Load(); got < n {
				return fmt.Errorf("%d of %d records acknowledged", got, n)
			}
			return nil
		})
	}

	waitAcked(2000)
	tg.Restart(t)
	before := nacked.Load()
	waitAcked(before + 2000)
	close(stop)
	<-produced
	if err := cl.Flush(testCtx(t, 30*time.Second)); err != nil {
		t.Fatalf("flush: %v", err)
	}
	t.Logf("%d records acknowledged (%d before the restart finished), %d failed", nacked.Load(), before, failed.Load())
	checkAcked(t, tg, topic, partitions, acked)
}

// checkAcked reads topic whole and checks every acknowledged record is at
// its offset, and none is stored twice.
func checkAcked(t *testing.T, tg target, topic string, partitions int32, acked map[string]*kgo.Record) {
	ends := endOffsets(t, tg, topic)
	stored := make(map[string][]*kgo.Record)
	byOffset := make(map[int32]map[int64]string)
	cl := newKgo(t, tg, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var total int64
	for p := range partitions {
		total += ends[p]
		byOffset[p] = make(map[int64]string)
	}
	ctx := testCtx(t, 60*time.Second)
	for n := int64(0); n < total; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", n, total, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			n++
			stored[string(r.Value)] = append(stored[string(r.Value)], r)
			byOffset[r.Partition][r.Offset] = string(r.Value)
		})
	}
	var missing, dups int
	for v, a := range acked {
		if got, ok := byOffset[a.Partition][a.Offset]; !ok || got != v {
			if missing++; missing <= 5 {
				t.Errorf("acknowledged record %.12s at %d/%d: stored there is %.12q", v, a.Partition, a.Offset, got)
			}
		}
		if copies := stored[v]; len(copies) > 1 {
			if dups++; dups <= 5 {
				t.Errorf("acknowledged record %.12s is stored %d times (at %d/%d and %d/%d): "+
					"an idempotent producer's retry was written twice",
					v, len(copies), copies[0].Partition, copies[0].Offset, copies[1].Partition, copies[1].Offset)
			}
		}
	}
	if missing+dups > 0 {
		t.Errorf("of %d acknowledged records, %d missing or moved, %d stored more than once", len(acked), missing, dups)
	}
}

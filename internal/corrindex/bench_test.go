package corrindex_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/corrindex"
	"github.com/heraldhq/herald/internal/records"
)

// The lookup benchmark's data: TRACE_BENCH_RECORDS records (default
// 300,000; `make bench-trace` uses 10,000,000) in flows of three events,
// orders -> payments -> shipments, over 3 topics of 2 partitions, written
// straight to the broker's logs in batches of 1,000, then indexed.
//
//	TRACE_BENCH_RECORDS=10000000 go test ./internal/corrindex -run '^$' -bench Trace -benchtime 20x
//
// BenchmarkTrace/index is a Trace of a random flow through the index;
// BenchmarkTrace/scan finds the same flow by reading every record's
// headers, the best a lookup without an index can do (in process, no
// network).
type benchData struct {
	dir   string
	b     *broker.Broker
	x     *corrindex.Index
	flows int
}

var (
	benchOnce sync.Once
	bench     *benchData
	benchErr  error
)

var benchTopics = []string{"orders", "payments", "shipments"}

func benchRecords() int {
	if n, err := strconv.Atoi(os.Getenv("TRACE_BENCH_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 300_000
}

func loadBench(b *testing.B) *benchData {
	benchOnce.Do(func() { bench, benchErr = buildBench(benchRecords()) })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return bench
}

func buildBench(n int) (*benchData, error) {
	dir, err := os.MkdirTemp("", "corrindex-bench-")
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	br, err := broker.Open(broker.Config{DataDir: filepath.Join(dir, "data"), Durability: "none", Logger: quiet})
	if err != nil {
		return nil, err
	}
	d := &benchData{dir: dir, b: br, flows: n / 3}
	start := time.Now()
	for hop, name := range benchTopics {
		t, err := br.CreateTopic(name, 2, nil, false)
		if err != nil {
			return nil, err
		}
		if err := fillTopic(t, hop, d.flows); err != nil {
			return nil, err
		}
	}
	if err := br.Sync(); err != nil {
		return nil, err
	}
	built := time.Since(start)
	start = time.Now()
	d.x, err = corrindex.Open(corrindex.Config{Dir: filepath.Join(dir, "index"), Broker: br, Interval: time.Hour, Logger: quiet})
	if err != nil {
		return nil, err
	}
	if err := d.x.CatchUp(); err != nil {
		return nil, err
	}
	indexed := time.Since(start)
	fmt.Fprintf(os.Stderr, "corrindex bench: %d records written in %v, indexed in %v (%.0f records/s), index %d MiB on disk\n",
		d.flows*3, built.Round(time.Millisecond), indexed.Round(time.Millisecond), float64(d.flows*3)/indexed.Seconds(), dirSize(filepath.Join(dir, "index"))>>20)
	return d, nil
}

// fillTopic writes hop's event of every flow, flow f to partition f%2.
func fillTopic(t *broker.Topic, hop, flows int) error {
	const per = 1000
	base := time.Now().Add(-time.Hour).UnixMilli()
	value := make([]byte, 64)
	for p := 0; p < 2; p++ {
		var recs []records.Record
		for f := p; f < flows; f += 2 {
			recs = append(recs, benchRecord(f, hop, value))
			if len(recs) == per || f+2 >= flows {
				batch, err := records.NewBatch(records.BatchSpec{BaseTimestamp: base + int64(f), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs...)
				if err != nil {
					return err
				}
				if _, err := t.Partition(int32(p)).Append(batch, time.Now(), broker.AckNone); err != nil {
					return err
				}
				recs = recs[:0]
			}
		}
	}
	return nil
}

func flowID(f int) string { return "flow-" + strconv.Itoa(f) }

func benchRecord(f, hop int, value []byte) records.Record {
	corr := flowID(f)
	id := corr + "/" + benchTopics[hop]
	h := []records.RecordHeader{{Key: []byte("ce_id"), Value: []byte(id)}, {Key: []byte("ce_correlationid"), Value: []byte(corr)},
		{Key: []byte("ce_type"), Value: []byte(benchTopics[hop] + ".v1")}}
	if hop > 0 {
		h = append(h, records.RecordHeader{Key: []byte("ce_causationid"), Value: []byte(corr + "/" + benchTopics[hop-1])})
	}
	return records.Record{Key: []byte(corr), Value: value, Headers: h, TimestampDelta: int64(hop)}
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func BenchmarkTrace(b *testing.B) {
	d := loadBench(b)
	ctx := context.Background()
	b.Run("index", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			f := (i * 7919) % d.flows
			evs, err := d.x.Trace(ctx, flowID(f))
			if err != nil || len(evs) != 3 {
				b.Fatalf("flow %d: %d events, %v", f, len(evs), err)
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			f := (i * 7919) % d.flows
			if n := scanFlow(b, d.b, flowID(f)); n != 3 {
				b.Fatalf("flow %d: scan found %d events", f, n)
			}
		}
	})
}

// scanFlow counts the records whose ce_correlationid is corr by reading
// every record of every topic.
func scanFlow(b *testing.B, br *broker.Broker, corr string) int {
	n := 0
	var scratch []byte
	for _, name := range benchTopics {
		for _, p := range br.Topic(name).Partitions() {
			err := p.Scan(0, func(batch []byte) error {
				var err error
				scratch, err = records.EachRecord(batch, scratch, func(r *records.Record) {
					r.EachHeader(func(k, v []byte) {
						if string(k) == "ce_correlationid" && string(v) == corr {
							n++
						}
					})
				})
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	return n
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench != nil {
		bench.x.Close()
		bench.b.Close()
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

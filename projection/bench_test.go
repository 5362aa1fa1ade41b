package projection_test

import (
	"context"
	"database/sql"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/eventstoretest"
	"github.com/heraldhq/herald/projection"
)

// benchEventsEnv sets the number of events of BenchmarkRebuild (default
// 20,000; the figure is 1,000,000, which takes minutes to fill).
const benchEventsEnv = "HERALD_PROJECTION_BENCH_EVENTS"

// benchRoundsEnv sets how many times BenchmarkRebuild runs its set of
// sub-benchmarks over one fill, interleaved (default 1): the runs of a
// noisy machine then compare side by side (-count would fill again).
const benchRoundsEnv = "HERALD_PROJECTION_BENCH_ROUNDS"

// BenchmarkRebuild replays N events into a new table: with a handler that
// does no SQL (the runner's own cost: read, decode, batch transactions,
// checkpoints), with one that upserts a row per event, with a batch
// handler that upserts each batch's sums per stream in one statement,
// and, as the baseline, a raw SELECT and scan of the same rows and
// columns. Each reports events/s and allocs/event; each rebuild also
// reports x-raw-scan, its events/s over those of raw scans run right
// before and after it (see rebuild).
func BenchmarkRebuild(b *testing.B) {
	n, rounds := benchEnv(b, benchEventsEnv, 20000), benchEnv(b, benchRoundsEnv, 1)
	for _, d := range []projection.Dialect{projection.SQLite, projection.Postgres} {
		b.Run(map[projection.Dialect]string{projection.SQLite: "sqlite", projection.Postgres: "postgres"}[d], func(b *testing.B) {
			e := newEnv(b, d, nil)
			fill(b, e.store, n)
			e.newRunner(b, projection.Config{Table: e.schema + "herald_projections", Batch: 1000, RebuildBatch: 5000})
			noop := e.counts("noop", nil)
			var seen int64
			noop.Apply = func(context.Context, *sql.Tx, string, eventstore.Recorded) error { seen++; return nil }
			e.register(b, noop)
			e.register(b, e.counts("upsert", nil))
			e.register(b, e.batchCounts("batch", nil, nil))
			for range rounds {
				b.Run("raw-scan", func(b *testing.B) { rawScan(b, e, n) })
				b.Run("rebuild-noop", func(b *testing.B) { rebuild(b, e, "noop", n) })
				b.Run("rebuild-upsert", func(b *testing.B) { rebuild(b, e, "upsert", n) })
				b.Run("rebuild-upsert-batch", func(b *testing.B) { rebuild(b, e, "batch", n) })
			}
		})
	}
}

// benchEnv reads a positive count from the environment variable name.
func benchEnv(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q", name, s)
	}
	return n
}

// measure runs f b.N times and reports events/s and allocs/event for n
// events per run; it returns the events/s.
func measure(b *testing.B, n int, f func()) float64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range b.N {
		f()
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	rate := float64(b.N*n) / elapsed.Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*n), "allocs/event")
	return rate
}

func fill(b *testing.B, s eventstore.Store, n int) {
	ctx := context.Background()
	for i := 0; n > 0; i++ {
		k := min(n, 1000)
		evs := make([]event.Event, k)
		for j := range evs {
			evs[j] = eventstoretest.Event("bench.happened", `{"order":"order-000042","amount":4200,"currency":"EUR"}`)
		}
		if _, err := s.Append(ctx, "bench-"+strconv.Itoa(i%100), eventstore.Any, evs...); err != nil {
			b.Fatal(err)
		}
		n -= k
	}
}

// rebuild measures Rebuild of projection name over the n events. It
// reports x-raw-scan beside events/s: the rebuild's events/s over those
// of two raw scans (scanOnce), one right before and one right after it,
// outside the benchmark's timer. The raw-scan sub-benchmark is the
// baseline; this ratio pairs each rebuild with scans made under about the
// same load, where on a shared machine the raw-scan sub-benchmark may have
// run minutes earlier under another.
func rebuild(b *testing.B, e *env, name string, n int) {
	b.StopTimer()
	scan := timed(func() { scanOnce(b, e, n) })
	b.StartTimer()
	rate := measure(b, n, func() {
		got, err := e.runner.Rebuild(context.Background(), e.schema+name)
		if err != nil || got != int64(n) {
			b.Fatalf("rebuild replayed %d (%v), want %d", got, err, n)
		}
	})
	b.StopTimer()
	scan += timed(func() { scanOnce(b, e, n) })
	b.ReportMetric(rate/(float64(2*n)/scan.Seconds()), "x-raw-scan")
}

// timed returns how long f took.
func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

// rawScan is the baseline: one SELECT of the columns and rows the
// rebuild reads, scanned into Go values (strings, ints, the data's
// bytes), without decoding the event.
func rawScan(b *testing.B, e *env, n int) {
	measure(b, n, func() { scanOnce(b, e, n) })
}

// scanOnce runs rawScan's SELECT once and scans its n rows.
func scanOnce(b *testing.B, e *env, n int) {
	q := "SELECT position, stream, version, id, type, recorded_at, headers, data FROM " + e.schema + "events ORDER BY position"
	if e.d == projection.SQLite {
		q = "SELECT position, stream, version, id, type, recorded_at, headers, data FROM herald_events ORDER BY position"
	}
	rows, err := e.db.Query(q)
	if err != nil {
		b.Fatal(err)
	}
	got := 0
	for rows.Next() {
		var pos, version, at int64
		var stream, id, typ, headers string
		var data []byte
		if err := rows.Scan(&pos, &stream, &version, &id, &typ, &at, &headers, &data); err != nil {
			b.Fatal(err)
		}
		got++
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	rows.Close()
	if got != n {
		b.Fatalf("scanned %d rows, want %d", got, n)
	}
}

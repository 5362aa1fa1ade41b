package projection_test

import (
	"context"
	"database/sql"
	"os"
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

// BenchmarkRebuild replays N events into a new table: with a handler that
// does no SQL (the runner's own cost: read, decode, batch transactions,
// checkpoints), with one that upserts a row per event, and, as the
// baseline, a raw SELECT and scan of the same rows.
func BenchmarkRebuild(b *testing.B) {
	n := 20000
	if s := os.Getenv(benchEventsEnv); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			b.Fatalf("%s=%q", benchEventsEnv, s)
		}
	}
	for _, d := range []projection.Dialect{projection.SQLite, projection.Postgres} {
		b.Run(map[projection.Dialect]string{projection.SQLite: "sqlite", projection.Postgres: "postgres"}[d], func(b *testing.B) {
			e := newEnv(b, d, nil)
			fill(b, e.store, n)
			e.newRunner(b, projection.Config{Table: e.schema + "herald_projections", Batch: 1000})
			noop := e.counts("noop", nil)
			var seen int64
			noop.Apply = func(context.Context, *sql.Tx, string, eventstore.Recorded) error { seen++; return nil }
			e.register(b, noop)
			e.register(b, e.counts("upsert", nil))
			b.Run("rebuild-noop", func(b *testing.B) { rebuild(b, e, "noop", n) })
			b.Run("rebuild-upsert", func(b *testing.B) { rebuild(b, e, "upsert", n) })
			b.Run("raw-scan", func(b *testing.B) { rawScan(b, e, n) })
		})
	}
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

func rebuild(b *testing.B, e *env, name string, n int) {
	start := time.Now()
	for range b.N {
		got, err := e.runner.Rebuild(context.Background(), e.schema+name)
		if err != nil || got != int64(n) {
			b.Fatalf("rebuild replayed %d (%v), want %d", got, err, n)
		}
	}
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "events/s")
}

func rawScan(b *testing.B, e *env, n int) {
	q := "SELECT position, stream, version, id, type, recorded_at, headers, data FROM " + e.schema + "events ORDER BY position"
	if e.d == projection.SQLite {
		q = "SELECT position, stream, version, id, type, recorded_at, headers, data FROM herald_events ORDER BY position"
	}
	start := time.Now()
	for range b.N {
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
		rows.Close()
		if got != n {
			b.Fatalf("scanned %d rows, want %d", got, n)
		}
	}
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "events/s")
}

// Package benchutil holds the event store benchmarks that the SQLite and
// PostgreSQL backends run, each beside a raw SQL baseline in the same run.
package benchutil

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/eventstore"
)

// Streams and Writers of the append benchmark.
const (
	Streams = 10000
	Writers = 4
)

// Event is the benchmarks' event: 100 bytes of JSON.
func Event() event.Event {
	e := event.New("/bench", "bench.happened", []byte(`{"order":"order-000042","amount":4200,"currency":"EUR","note":"a hundred bytes of json, roughly"}`))
	e.DataContentType = "application/json"
	return e
}

// parallel runs n operations over Writers goroutines; op gets the
// writer's number and a per-writer counter.
func parallel(b *testing.B, op func(w, i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, Writers)
	for w := range Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; next.Add(1) <= int64(b.N); i++ {
				if err := op(w, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// Append appends 1 event to one of Streams streams with the exact
// expected version, from Writers goroutines (each owns the streams
// congruent to it mod Writers and knows their versions).
func Append(b *testing.B, s eventstore.Store) {
	ctx := context.Background()
	versions := make([]int64, Streams)
	for i := range versions {
		versions[i] = eventstore.NoVersion
	}
	b.ReportAllocs()
	start := time.Now()
	parallel(b, func(w, i int) error {
		k := (i*Writers + w) % Streams
		exp := eventstore.Exact(versions[k])
		if versions[k] == eventstore.NoVersion {
			exp = eventstore.NoStream
		}
		res, err := s.Append(ctx, "bench-"+strconv.Itoa(k), exp, Event())
		versions[k] = res.LastVersion
		return err
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// RawInsert inserts one row per statement (autocommit) into table, which
// has the event table's columns, from Writers goroutines: the baseline
// of Append. insert is the INSERT with 7 placeholders.
func RawInsert(b *testing.B, db *sql.DB, insert string) {
	ctx := context.Background()
	headers := "14:ce_specversion3:1.05:ce_id36:0190f0c2-0000-7000-8000-0000000000009:ce_source6:/bench7:ce_type14:bench.happened"
	b.ReportAllocs()
	start := time.Now()
	parallel(b, func(w, i int) error {
		e := Event()
		k := (i*Writers + w) % Streams
		_, err := db.ExecContext(ctx, insert, "bench-"+strconv.Itoa(k), i, e.ID, e.Type, time.Now().UnixMicro(), headers, e.Data)
		return err
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// Fill appends n events to stream, 500 per append.
func Fill(b *testing.B, s eventstore.Store, stream string, n int) {
	ctx := context.Background()
	for n > 0 {
		k := min(n, 500)
		evs := make([]event.Event, k)
		for i := range evs {
			evs[i] = Event()
		}
		if _, err := s.Append(ctx, stream, eventstore.Any, evs...); err != nil {
			b.Fatal(err)
		}
		n -= k
	}
}

// ReadStream reads the whole stream per op, decoding every event.
func ReadStream(b *testing.B, s eventstore.Store, stream string, n int) {
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	for range b.N {
		recs, err := s.ReadStream(ctx, stream, eventstore.ReadOptions{})
		if err != nil || len(recs) != n {
			b.Fatalf("read %d events (%v), want %d", len(recs), err, n)
		}
	}
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "events/s")
}

// RawScan runs query (which selects the event columns of n rows) per op
// and scans every row: the baseline of ReadStream and of a rebuild.
func RawScan(b *testing.B, db *sql.DB, query string, n int, args ...any) {
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	for range b.N {
		got, err := Scan(ctx, db, query, args...)
		if err != nil || got != n {
			b.Fatalf("scanned %d rows (%v), want %d", got, err, n)
		}
	}
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "events/s")
}

// Scan scans the rows of query (position, stream, version, id, type,
// recorded_at, headers, data) and returns how many there were.
func Scan(ctx context.Context, db *sql.DB, query string, args ...any) (int, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var pos, version, at int64
		var stream, id, typ, headers string
		var data []byte
		if err := rows.Scan(&pos, &stream, &version, &id, &typ, &at, &headers, &data); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("scan: %w", err)
	}
	return n, nil
}

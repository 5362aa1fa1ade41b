// Package benchutil holds the event store benchmarks that the SQLite and
// PostgreSQL backends run, each beside a raw SQL baseline in the same run.
package benchutil

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
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
// writer's number and the writer's count of operations so far.
func parallel(n int, op func(w, i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, Writers)
	for w := range Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; next.Add(1) <= int64(n); i++ {
				if err := op(w, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// Shards holds the version of each of Streams streams, sharded over the
// Writers: writer w owns the streams k with k%Writers == w and takes
// them in turn, so it knows their versions without reading them and no
// two writers ever append to the same stream.
//
// Invariant: versions[k] is stream k's last version, and next[w] is the
// index within w's shard of the stream w appends to next.
type Shards struct {
	versions [Streams]int64
	next     [Writers]int
}

// take returns the stream writer w appends to next and its version, and
// advances w to its next stream. Only writer w may call it for w.
func (sh *Shards) take(w int) (k int, version int64) {
	k = sh.next[w]*Writers + w
	sh.next[w]++
	if sh.next[w]*Writers+w >= Streams {
		sh.next[w] = 0
	}
	return k, sh.versions[k]
}

// StreamName is the name of stream k.
func StreamName(k int) string { return "bench-" + strconv.Itoa(k) }

// NewStreams creates the Streams streams in s with one event each, by
// appends with NoStream from Writers goroutines (the state real appends
// leave), and returns their shards.
func NewStreams(s eventstore.Store) (*Shards, error) {
	sh := &Shards{}
	ctx := context.Background()
	// Streams are handed out from one counter, not by shard: the writers
	// do not all get the same number of operations from parallel.
	var next atomic.Int64
	err := parallel(Streams, func(_, _ int) error {
		k := int(next.Add(1) - 1)
		res, err := s.Append(ctx, StreamName(k), eventstore.NoStream, Event())
		sh.versions[k] = res.LastVersion
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create %d streams: %w", Streams, err)
	}
	return sh, nil
}

// Append appends n events from Writers goroutines, each 1 event to the
// next stream of the writer's shard with its exact expected version. A
// conflict is a bug of the benchmark or of the store, and an error.
func Append(s eventstore.Store, sh *Shards, n int) error {
	ctx := context.Background()
	return parallel(n, func(w, _ int) error {
		k, v := sh.take(w)
		res, err := s.Append(ctx, StreamName(k), eventstore.Exact(v), Event())
		if err != nil {
			return fmt.Errorf("append to %s at version %d: %w", StreamName(k), v, err)
		}
		if res.FirstVersion != v+1 || res.LastVersion != v+1 {
			return fmt.Errorf("append to %s at version %d: got versions %d..%d", StreamName(k), v, res.FirstVersion, res.LastVersion)
		}
		sh.versions[k] = res.LastVersion
		return nil
	})
}

// Raw is a raw INSERT loop: insert has 7 placeholders (stream, version,
// id, type, recorded_at, headers, data) and goes into a table of the
// event table's columns.
type Raw struct {
	DB     *sql.DB
	Insert string
	shards Shards
}

const rawHeaders = "14:ce_specversion3:1.05:ce_id36:0190f0c2-0000-7000-8000-0000000000009:ce_source6:/bench7:ce_type14:bench.happened"

// Fill inserts the first event of each of the Streams streams, in one
// transaction, so that the raw table starts with the rows the store's
// table starts with.
func (r *Raw) Fill() error {
	ctx := context.Background()
	tx, err := r.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	e := Event()
	for k := range Streams {
		if _, err := tx.ExecContext(ctx, r.Insert, StreamName(k), 0, e.ID, e.Type, time.Now().UnixMicro(), rawHeaders, e.Data); err != nil {
			return fmt.Errorf("fill raw table: %w", err)
		}
	}
	return tx.Commit()
}

// Run inserts n rows, one per statement (autocommit), from Writers
// goroutines: the baseline of Append. Each row goes to the stream, and
// has the version, that Append's event would.
func (r *Raw) Run(n int) error {
	ctx := context.Background()
	return parallel(n, func(w, _ int) error {
		e := Event()
		k, v := r.shards.take(w)
		r.shards.versions[k] = v + 1
		_, err := r.DB.ExecContext(ctx, r.Insert, StreamName(k), v+1, e.ID, e.Type, time.Now().UnixMicro(), rawHeaders, e.Data)
		return err
	})
}

// Side is one side of a paired benchmark: Run does n operations.
type Side struct {
	Name string
	Run  func(n int) error
}

// Paired runs each of sides for round operations per iteration, one
// after another (starting with a different side each iteration), so
// that the machine's load, which changes from run to run, weighs on the
// sides alike. It reports each side's rate as "<name>-ev/s", the first
// side's rate over each other's as "<first>/<name>", and the process's
// heap allocations per operation while the side ran as
// "<name>-allocs/ev". If counter is not nil it also reports, per side,
// how much counter grew per operation while the side ran, as
// "<name>-<unit>".
func Paired(b *testing.B, round int, counter func() (int64, error), unit string, sides ...Side) {
	totals := make([]sideTotals, len(sides))
	for i := range b.N {
		for j := range sides {
			k := (i + j) % len(sides)
			if err := totals[k].run(sides[k], round, counter); err != nil {
				b.Fatalf("%s: %v", sides[k].Name, err)
			}
		}
	}
	ops := float64(b.N * round)
	rate := func(j int) float64 { return ops / totals[j].elapsed.Seconds() }
	for j, side := range sides {
		b.ReportMetric(rate(j), side.Name+"-ev/s")
		if j > 0 {
			b.ReportMetric(rate(0)/rate(j), sides[0].Name+"/"+side.Name)
		}
		b.ReportMetric(float64(totals[j].mallocs)/ops, side.Name+"-allocs/ev")
		if counter != nil {
			b.ReportMetric(float64(totals[j].counted)/ops, side.Name+"-"+unit)
		}
	}
}

// sideTotals adds up a side's rounds of Paired.
type sideTotals struct {
	elapsed time.Duration
	mallocs uint64
	counted int64
}

// run runs one round of side and adds it to t.
func (t *sideTotals) run(side Side, round int, counter func() (int64, error)) error {
	var c0, c1 int64
	var err error
	if counter != nil {
		if c0, err = counter(); err != nil {
			return err
		}
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	if err := side.Run(round); err != nil {
		return err
	}
	t.elapsed += time.Since(t0)
	runtime.ReadMemStats(&m1)
	t.mallocs += m1.Mallocs - m0.Mallocs
	if counter != nil {
		if c1, err = counter(); err != nil {
			return err
		}
	}
	t.counted += c1 - c0
	return nil
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

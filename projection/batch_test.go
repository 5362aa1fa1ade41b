package projection_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/projection"
)

// batchCounts is counts with an ApplyBatch that sums each batch per
// stream and writes it with one multi-row upsert; batches counts its
// calls, applied counts the calls of the per-event Apply.
func (e *env) batchCounts(name string, applied, batches *atomic.Int64) projection.Projection {
	p := e.counts(name, applied)
	p.ApplyBatch = func(ctx context.Context, tx *sql.Tx, table string, recs []eventstore.Recorded) error {
		if batches != nil {
			batches.Add(1)
		}
		type sum struct {
			n    int64
			last string
		}
		var order []string
		sums := map[string]*sum{}
		for _, r := range recs {
			if strings.HasPrefix(r.Type, "poison") {
				return fmt.Errorf("cannot read %s", r.Type)
			}
			s := sums[r.Stream]
			if s == nil {
				s = &sum{}
				sums[r.Stream] = s
				order = append(order, r.Stream)
			}
			s.n++
			s.last = r.Type
		}
		var q strings.Builder
		q.WriteString("INSERT INTO " + table + " (stream, n, last_type) VALUES ")
		args := make([]any, 0, 3*len(order))
		for i, st := range order {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?)")
			args = append(args, st, sums[st].n, sums[st].last)
		}
		q.WriteString(" ON CONFLICT (stream) DO UPDATE SET n = " + table + ".n + excluded.n, last_type = excluded.last_type")
		_, err := tx.ExecContext(ctx, e.rebind(q.String()), args...)
		return err
	}
	return p
}

// TestApplyBatch: a projection with ApplyBatch gets one call per batch
// and the per-event handler none; the view is what Apply would build,
// live, inline and rebuilt.
func TestApplyBatch(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		var applied, batches atomic.Int64
		e.newRunner(t, projection.Config{Batch: 7, RebuildBatch: 7})
		e.register(t, e.batchCounts("bc", &applied, &batches))
		for i := range 20 {
			e.append(t, fmt.Sprintf("s-%d", i%3), fmt.Sprintf("t%d", i))
		}
		if err := e.drain(t, "bc"); err != nil {
			t.Fatal(err)
		}
		if got := e.view(t, "bc"); got["s-0"] != 7 || got["s-1"] != 7 || got["s-2"] != 6 {
			t.Fatalf("view %v", got)
		}
		if batches.Load() != 3 || applied.Load() != 0 {
			t.Fatalf("20 events in batches of 7: ApplyBatch ran %d times, Apply %d", batches.Load(), applied.Load())
		}
		var last string
		if err := e.db.QueryRow("SELECT last_type FROM " + e.schema + "bc WHERE stream = 's-1'").Scan(&last); err != nil || last != "t19" {
			t.Fatalf("last type of s-1: %q, %v", last, err)
		}
		n, err := e.runner.Rebuild(context.Background(), e.schema+"bc")
		if err != nil || n != 20 {
			t.Fatalf("rebuild: %d, %v", n, err)
		}
		if got := e.view(t, "bc"); got["s-0"] != 7 || got["s-1"] != 7 || got["s-2"] != 6 {
			t.Fatalf("view after the rebuild %v", got)
		}
		if s := e.status(t, "bc"); s.Position != 20 || s.Lag != 0 || !strings.HasSuffix(s.Table, "bc_g2") {
			t.Fatalf("status after the rebuild %+v", s)
		}
		if batches.Load() != 6 || applied.Load() != 0 {
			t.Fatalf("after the rebuild: ApplyBatch ran %d times, Apply %d", batches.Load(), applied.Load())
		}
		// By default a rebuild's batches are larger than the live ones.
		var rebuilt atomic.Int64
		e.newRunner(t, projection.Config{Batch: 7})
		e.register(t, e.batchCounts("bc", nil, &rebuilt))
		if n, err := e.runner.Rebuild(context.Background(), e.schema+"bc"); err != nil || n != 20 || rebuilt.Load() != 1 {
			t.Fatalf("rebuild with the default RebuildBatch: %d events in %d batches, %v", n, rebuilt.Load(), err)
		}
		if got := e.view(t, "bc"); got["s-0"] != 7 || got["s-1"] != 7 || got["s-2"] != 6 {
			t.Fatalf("view after the second rebuild %v", got)
		}
	})
}

// TestApplyBatchPoison: a batch that fails is applied again event by
// event with Apply, so the poison policy sees the one event: Stop keeps
// the events before it, Skip records it and goes on.
func TestApplyBatchPoison(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		var applied atomic.Int64
		e.register(t, e.batchCounts("strict", &applied, nil))
		lenient := e.batchCounts("lenient", nil, nil)
		lenient.OnPoison = projection.Skip
		e.register(t, lenient)
		e.append(t, "a", "x", "x", "poison-1", "x")
		err := e.drain(t, "strict")
		if !errors.Is(err, projection.ErrStopped) || !strings.Contains(err.Error(), "position 3") {
			t.Fatalf("poisoned batch: %v", err)
		}
		if s := e.status(t, "strict"); !s.Stopped || s.ErrorAt != 3 || s.Position != 2 {
			t.Fatalf("status %+v", s)
		}
		if got := e.view(t, "strict"); got["a"] != 2 || applied.Load() != 2 {
			t.Fatalf("view %v after %d applies, want the 2 events before the poison", got, applied.Load())
		}
		if err := e.drain(t, "lenient"); err != nil {
			t.Fatal(err)
		}
		if got := e.view(t, "lenient"); got["a"] != 3 {
			t.Fatalf("lenient view %v", got)
		}
		if s := e.status(t, "lenient"); s.Position != 4 || s.Skipped != 1 {
			t.Fatalf("lenient status %+v", s)
		}
	})
}

// TestApplyBatchPanic: a panicking batch handler is an error, and the
// batch goes event by event.
func TestApplyBatchPanic(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		p := e.counts("pb", nil)
		p.ApplyBatch = func(context.Context, *sql.Tx, string, []eventstore.Recorded) error { panic("boom") }
		e.register(t, p)
		e.append(t, "a", "x", "x")
		if err := e.drain(t, "pb"); err != nil {
			t.Fatal(err)
		}
		if got := e.view(t, "pb"); got["a"] != 2 {
			t.Fatalf("view %v", got)
		}
	})
}

// TestInlineBatch: Inline applies an append's events with ApplyBatch; its
// error fails the append.
func TestInlineBatch(t *testing.T) {
	for _, d := range []projection.Dialect{projection.SQLite, projection.Postgres} {
		t.Run(map[projection.Dialect]string{projection.SQLite: "sqlite", projection.Postgres: "postgres"}[d], func(t *testing.T) {
			e := newEnv(t, d, func(self *env) []eventstore.TxHook {
				return []eventstore.TxHook{func(ctx context.Context, tx *sql.Tx, recs []eventstore.Recorded) error {
					return self.runner.Inline(self.schema+"inb")(ctx, tx, recs)
				}}
			})
			var applied, batches atomic.Int64
			e.register(t, e.batchCounts("inb", &applied, &batches))
			e.append(t, "a", "x", "x")
			if _, err := e.store.Append(context.Background(), "b", eventstore.Any, eventEv("x"), eventEv("x"), eventEv("x")); err != nil {
				t.Fatal(err)
			}
			if got := e.view(t, "inb"); got["a"] != 2 || got["b"] != 3 {
				t.Fatalf("inline view: %v", got)
			}
			if batches.Load() != 3 || applied.Load() != 0 {
				t.Fatalf("3 appends: ApplyBatch ran %d times, Apply %d", batches.Load(), applied.Load())
			}
			if _, err := e.store.Append(context.Background(), "a", eventstore.Any, eventEv("x"), eventEv("poison")); err == nil {
				t.Fatal("append with a failing inline batch succeeded")
			}
			if head, _ := e.store.Head(context.Background()); head != 5 {
				t.Fatalf("head %d after the refused append", head)
			}
		})
	}
}

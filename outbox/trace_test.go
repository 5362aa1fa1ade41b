package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/postgres"
	"github.com/heraldhq/herald/outbox/sqlite"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// TestTraceThroughOutbox: a trace begun by a request runs through the
// outbox row, the relay's producer span, the consumer spans of both
// attempts of the handler (the first fails), the producer span of the
// follow-up event the handler publishes, and its consumer's span: every
// span in one trace, each the child of the one before, consumers linked
// to their producers.
func TestTraceThroughOutbox(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prop := propagation.TraceContext{}
	b := pubsubtest.New(t)
	orders, payments := b.Topic("orders", 1), b.Topic("payments", 1)
	be := backends(time.Minute)["sqlite"](t)

	ctx, root := tp.Tracer("test").Start(context.Background(), "POST /orders")
	tx, err := be.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := event.New("/shop", "order.placed", []byte(`{}`))
	e.Key = "o1"
	if err := outbox.Write(ctx, tx, be.store, orders, e); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	root.End()

	cl := b.Client()
	relay, err := outbox.NewRelay(be.store, cl, outbox.RelayConfig{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	runUntilEmpty(t, relay)

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pub := pubsub.NewPublisher(cl, pubsub.WithTracerProvider(tp), pubsub.WithPropagator(prop))
	r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: b.Seeds, Group: pubsubtest.Group("trace"), Logger: quiet,
		Backoff: pubsub.Backoff{Initial: time.Millisecond}, CommitInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.Use(pubsub.Tracing(tp, prop))
	var tries, followed atomic.Int32
	r.Handle(orders, func(ctx context.Context, m *pubsub.Message) error {
		if tries.Add(1) == 1 {
			return errors.New("first attempt fails")
		}
		_, err := pub.PublishValue(ctx, payments, "payment.requested", m.Event.Key, map[string]string{"order": "o1"})
		return err
	})
	r.Handle(payments, func(context.Context, *pubsub.Message) error { followed.Add(1); return nil })
	errc := make(chan error, 1)
	go func() { errc <- r.Run(context.Background()) }()
	defer func() {
		r.Close()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}()
	testenv.CheckFor(t, 20*time.Second, func() error {
		if followed.Load() == 0 || len(exp.GetSpans()) < 6 {
			return fmt.Errorf("%d spans, follow-up handled %d times", len(exp.GetSpans()), followed.Load())
		}
		return nil
	})

	spans := exp.GetSpans()
	byName := map[string][]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
		if s.SpanContext.TraceID() != root.SpanContext().TraceID() {
			t.Errorf("span %q in trace %s, want the request's %s", s.Name, s.SpanContext.TraceID(), root.SpanContext().TraceID())
		}
	}
	one := func(name string, kind trace.SpanKind, n int) []tracetest.SpanStub {
		t.Helper()
		got := byName[name]
		if len(got) != n {
			t.Fatalf("%d spans %q, want %d (all: %v)", len(got), name, n, names(spans))
		}
		for _, s := range got {
			if s.SpanKind != kind {
				t.Errorf("span %q kind %v, want %v", name, s.SpanKind, kind)
			}
		}
		return got
	}
	relayed := one(orders+" publish", trace.SpanKindProducer, 1)[0]
	attempts := one(orders+" process", trace.SpanKindConsumer, 2)
	followUp := one(payments+" publish", trace.SpanKindProducer, 1)[0]
	consumed := one(payments+" process", trace.SpanKindConsumer, 1)[0]
	childOf := func(child, parent tracetest.SpanStub) {
		t.Helper()
		if child.Parent.SpanID() != parent.SpanContext.SpanID() {
			t.Errorf("span %q: parent %s, want %q (%s)", child.Name, child.Parent.SpanID(), parent.Name, parent.SpanContext.SpanID())
		}
	}
	if relayed.Parent.SpanID() != root.SpanContext().SpanID() {
		t.Errorf("relay span's parent %s, want the request span %s", relayed.Parent.SpanID(), root.SpanContext().SpanID())
	}
	for _, a := range attempts {
		childOf(a, relayed)
		if len(a.Links) != 1 || a.Links[0].SpanContext.SpanID() != relayed.SpanContext.SpanID() {
			t.Errorf("consumer span links %v, want the producer span", a.Links)
		}
	}
	childOf(followUp, attempts[1])
	childOf(consumed, followUp)
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// TestMigrateAddsTraceColumns: a table made before the trace columns
// existed, with a row in it, gains them on New; the old row is relayed
// (with no trace context) and new rows keep theirs.
func TestMigrateAddsTraceColumns(t *testing.T) {
	ctx := context.Background()
	b := pubsubtest.New(t)
	topic := b.Topic("migrate", 1)
	for name, mk := range map[string]func() (*sql.DB, string, func() (outbox.Store, error)){
		"sqlite": func() (*sql.DB, string, func() (outbox.Store, error)) {
			db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db")+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			old := `CREATE TABLE herald_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, topic TEXT NOT NULL,
				msg_key TEXT NOT NULL, headers TEXT NOT NULL, value BLOB, created_at INTEGER NOT NULL,
				claimed_by TEXT NOT NULL DEFAULT '', claimed_until INTEGER NOT NULL DEFAULT 0);
				INSERT INTO herald_outbox (id, topic, msg_key, headers, value, created_at) VALUES ('old-1', '` + topic + `', 'k', '[]', 'v', 0)`
			return db, old, func() (outbox.Store, error) { return sqlite.New(ctx, db, sqlite.Config{}) }
		},
		"postgres": func() (*sql.DB, string, func() (outbox.Store, error)) {
			db, err := sql.Open("pgx", pubsubtest.PostgresDSN(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			table := pubsubtest.UniqueName("outbox_old")
			t.Cleanup(func() { db.Exec("DROP TABLE " + table) })
			old := `CREATE TABLE ` + table + ` (seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL, topic TEXT NOT NULL,
				msg_key TEXT NOT NULL, headers TEXT NOT NULL, value BYTEA, created_at TIMESTAMPTZ NOT NULL DEFAULT now());
				INSERT INTO ` + table + ` (id, topic, msg_key, headers, value) VALUES ('old-1', '` + topic + `', 'k', '[]', 'v')`
			return db, old, func() (outbox.Store, error) { return postgres.New(ctx, db, postgres.Config{Table: table}) }
		},
	} {
		t.Run(name, func(t *testing.T) {
			db, old, open := mk()
			if _, err := db.ExecContext(ctx, old); err != nil {
				t.Fatal(err)
			}
			for range 2 { // a second New finds the columns there
				if _, err := open(); err != nil {
					t.Fatal(err)
				}
			}
			s, _ := open()
			tp := sdktrace.NewTracerProvider()
			sctx, span := tp.Tracer("test").Start(ctx, "write")
			defer span.End()
			tx, err := db.BeginTx(sctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			e := event.New("/test", "t", nil)
			e.Key = "k"
			if err := errors.Join(outbox.Write(sctx, tx, s, topic, e), tx.Commit()); err != nil {
				t.Fatal(err)
			}
			b, err := s.Claim(ctx, "r", 10)
			if err != nil {
				t.Fatal(err)
			}
			msgs := b.Messages()
			if err := b.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 2 || msgs[0].ID != "old-1" || msgs[0].TraceParent != "" {
				t.Fatalf("claimed %+v, want the old row first, without trace context", msgs)
			}
			want := fmt.Sprintf("00-%s-%s-01", span.SpanContext().TraceID(), span.SpanContext().SpanID())
			if msgs[1].TraceParent != want {
				t.Errorf("new row traceparent %q, want %q", msgs[1].TraceParent, want)
			}
			if tp := headerOf(msgs[1].Record(), "traceparent"); tp != want {
				t.Errorf("record traceparent header %q, want %q", tp, want)
			}
		})
	}
}

func headerOf(r *kgo.Record, k string) string {
	for _, h := range r.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

package projection_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/projection"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// topicFaults injects the two failures a topic projection must survive:
// the handler's transaction failing after its writes (rolled back, so the
// retry applies the message once) and the acknowledgement failing after
// the commit (the router redelivers, so the retry must not apply it again:
// what a crash between the SQL commit and the Kafka offset commit does).
type topicFaults struct {
	mu         sync.Mutex
	failApply  map[string]bool           // event ids whose first Apply fails after writing
	lostAck    map[string]bool           // event ids whose first successful attempt is reported failed
	redelivery map[string]pubsub.Outcome // pending until the redelivery ends
}

// pending marks a lost ack's event before its redelivery.
const pending pubsub.Outcome = 255

func (f *topicFaults) once(m map[string]bool, id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m[id] {
		delete(m, id)
		return true
	}
	return false
}

// loseAck is a middleware failing the first successful attempt of the
// lostAck events, and recording how their redelivery ended.
func (f *topicFaults) loseAck(h pubsub.Handler) pubsub.Handler {
	return func(ctx context.Context, m *pubsub.Message) error {
		err := h(ctx, m)
		f.mu.Lock()
		if _, ok := f.redelivery[m.Event.ID]; ok && err == nil {
			f.redelivery[m.Event.ID] = m.Outcome()
		}
		f.mu.Unlock()
		if err == nil && f.once(f.lostAck, m.Event.ID) {
			f.mu.Lock()
			f.redelivery[m.Event.ID] = pending
			f.mu.Unlock()
			return errors.New("acknowledgement lost after the commit")
		}
		return err
	}
}

func TestTopicProjectionExactlyOnce(t *testing.T) {
	b := pubsubtest.New(t)
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		topic := b.Topic("proj", 2)
		const n, keys = 60, 6
		f := &topicFaults{failApply: map[string]bool{}, lostAck: map[string]bool{}, redelivery: map[string]pubsub.Outcome{}}
		var evs []event.Event
		for i := range n {
			ev := event.New("/test", "amount.added", []byte(strconv.Itoa(i)))
			ev.Key = "k" + strconv.Itoa(i%keys)
			switch i % 5 {
			case 1:
				f.failApply[ev.ID] = true
			case 3:
				f.lostAck[ev.ID] = true
			}
			evs = append(evs, ev)
		}
		lost := len(f.lostAck)
		p := projection.TopicProjection{
			Name: e.schema + "sums",
			Setup: func(ctx context.Context, tx *sql.Tx, table string) error {
				_, err := tx.ExecContext(ctx, "CREATE TABLE "+table+" (k TEXT PRIMARY KEY, n BIGINT NOT NULL, total BIGINT NOT NULL)")
				return err
			},
			Apply: func(ctx context.Context, tx *sql.Tx, table string, m *pubsub.Message) error {
				v, err := strconv.ParseInt(string(m.Event.Data), 10, 64)
				if err != nil {
					return pubsub.Permanent(err)
				}
				_, err = tx.ExecContext(ctx, e.rebind("INSERT INTO "+table+" (k, n, total) VALUES (?, 1, ?) "+
					"ON CONFLICT (k) DO UPDATE SET n = "+table+".n + 1, total = "+table+".total + excluded.total"), m.Event.Key, v)
				if err == nil && f.once(f.failApply, m.Event.ID) {
					return errors.New("failed after writing, before the commit")
				}
				return err
			},
		}
		h, err := e.runner.TopicHandler(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := pubsub.NewPublisher(b.Client()).Publish(ctx, topic, evs...); err != nil {
			t.Fatal(err)
		}
		run := func(group string) (stop func()) {
			r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: b.Seeds, Group: group, Logger: slog.New(slog.DiscardHandler),
				Backoff: pubsub.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}, CommitInterval: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Handle(topic, h, f.loseAck); err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- r.Run(rctx) }()
			return func() {
				cancel()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
		}
		stop := run(pubsubtest.Group("proj"))
		testenv.CheckFor(t, 30*time.Second, func() error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.failApply) > 0 || len(f.lostAck) > 0 {
				return fmt.Errorf("%d apply and %d ack faults not hit yet", len(f.failApply), len(f.lostAck))
			}
			for id, o := range f.redelivery {
				if o == pending {
					return fmt.Errorf("event %s not redelivered yet", id)
				}
			}
			// Every event applied, not only the faulty ones handled:
			// stopping earlier would leave the last ones for no one.
			return sumsDiff(e, p.Name, evs)
		})
		stop()
		checkSums(t, e, p.Name, evs)
		for id, o := range f.redelivery {
			if o != pubsub.Deduplicated {
				t.Fatalf("redelivery of %s after a lost ack ended %v, want Deduplicated", id, o)
			}
		}
		if len(f.redelivery) != lost {
			t.Fatalf("%d redeliveries seen, want %d", len(f.redelivery), lost)
		}
		// A new group reads the topic from the start, as a router that
		// lost every Kafka offset would: nothing is applied again.
		var mu sync.Mutex
		outcomes := map[pubsub.Outcome]int{}
		count := func(h pubsub.Handler) pubsub.Handler {
			return func(ctx context.Context, m *pubsub.Message) error {
				err := h(ctx, m)
				mu.Lock()
				outcomes[m.Outcome()]++
				mu.Unlock()
				return err
			}
		}
		r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: b.Seeds, Group: pubsubtest.Group("proj-again"), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Handle(topic, h, count); err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(rctx) }()
		testenv.CheckFor(t, 30*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if outcomes[pubsub.Deduplicated] < n {
				return fmt.Errorf("outcomes %v", outcomes)
			}
			return nil
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if outcomes[pubsub.Handled] != 0 {
			t.Fatalf("a replay from the start applied %d messages again", outcomes[pubsub.Handled])
		}
		checkSums(t, e, p.Name, evs)
		offs, err := e.runner.TopicOffsets(ctx, p.Name)
		if err != nil || len(offs) != keys {
			t.Fatalf("offsets %+v, %v: want one per key", offs, err)
		}
	})
}

// checkSums checks that the read model counted every event once.
func checkSums(t *testing.T, e *env, table string, evs []event.Event) {
	t.Helper()
	if err := sumsDiff(e, table, evs); err != nil {
		t.Fatal(err)
	}
}

// sumsDiff compares the read model with the count and sum per key of
// evs; nil when they agree.
func sumsDiff(e *env, table string, evs []event.Event) error {
	want := map[string][2]int64{}
	for i, ev := range evs {
		w := want[ev.Key]
		want[ev.Key] = [2]int64{w[0] + 1, w[1] + int64(i)}
	}
	rows, err := e.db.Query("SELECT k, n, total FROM " + table)
	if err != nil {
		return err
	}
	defer rows.Close()
	got := map[string][2]int64{}
	for rows.Next() {
		var k string
		var c, s int64
		if err := rows.Scan(&k, &c, &s); err != nil {
			return err
		}
		got[k] = [2]int64{c, s}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("read model %v, want %v (count, sum per key)", got, want)
	}
	return nil
}

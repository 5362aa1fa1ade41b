package saga_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/saga"
)

func cmd(topic, name string) saga.Action {
	return saga.Action{Topic: topic, Command: name, Success: name + ".ok", Failure: name + ".failed"}
}

// twoStep: reserve (undone by release), then charge.
func twoStep(timeout time.Duration) saga.Definition {
	return saga.Definition{Name: "two", Steps: []saga.Step{
		{Name: "reserve", Action: cmd("inv", "reserve"), Compensation: cmd("inv", "release"), Timeout: timeout,
			Retry: saga.RetryPolicy{MaxAttempts: 2, Backoff: 10 * time.Millisecond}},
		{Name: "charge", Action: cmd("pay", "charge"), Timeout: timeout},
	}}
}

// replyTo returns the reply of type typ to command m.
func replyTo(m outbox.Message, typ string) event.Event {
	e := event.New("/test", typ, []byte(`{"by":"`+m.ID+`"}`))
	e.CorrelationID, e.CausationID, e.Key = m.Key, m.ID, m.Key
	return e
}

// commandFor returns the pending command of instance id with type typ.
func commandFor(t testing.TB, ob outbox.Store, id, typ string) outbox.Message {
	t.Helper()
	for _, m := range pending(t, ob) {
		e, err := event.FromRecord(m.Record())
		if err != nil {
			t.Fatal(err)
		}
		if m.Key == id && e.Type == typ {
			return m
		}
	}
	t.Fatalf("no %s command of %s in the outbox", typ, id)
	return outbox.Message{}
}

func mustStatus(t testing.TB, st *saga.Store, id string, want saga.Status) saga.Instance {
	t.Helper()
	in, err := st.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if in.Status != want {
		t.Fatalf("%s is %s (step %d, %q), want %s", id, in.Status, in.Step, in.Error, want)
	}
	return in
}

func TestStoreLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		_, st := be.open(t)
		r := newRunner(t, st, twoStep(time.Minute))
		in, err := r.Start(ctx, "two", "o-1", map[string]int{"qty": 2})
		if err != nil || in.Status != saga.Running || in.Version != 0 {
			t.Fatalf("start: %+v %v", in, err)
		}
		if _, err := r.Start(ctx, "two", "o-1", nil); !errors.Is(err, saga.ErrExists) {
			t.Fatalf("second start: %v, want ErrExists", err)
		}
		if _, err := r.Start(ctx, "nope", "o-2", nil); !errors.Is(err, saga.ErrUnknownType) {
			t.Fatalf("unknown type: %v", err)
		}
		reserve := commandFor(t, be.ob, "o-1", "reserve")
		if string(reserve.Value) != `{"qty":2}` || reserve.ID != "o-1/0/do/1" {
			t.Fatalf("reserve command %s %s", reserve.ID, reserve.Value)
		}
		ok := replyTo(reserve, "reserve.ok")
		for range 2 { // the second is a duplicate
			if err := r.HandleReply(ctx, ok); err != nil {
				t.Fatal(err)
			}
		}
		in = mustStatus(t, st, "o-1", saga.Running)
		if in.Step != 1 || in.Version != 1 || string(in.Data["reserve"]) != `{"by":"o-1/0/do/1"}` {
			t.Fatalf("after reserve: %+v", in)
		}
		if out, _ := st.ReplyOutcome(ctx, ok.ID); !strings.Contains(out, "step reserve done") {
			t.Fatalf("reply outcome %q", out)
		}
		late := replyTo(reserve, "reserve.ok") // another reply to the first command: late
		if err := r.HandleReply(ctx, late); err != nil {
			t.Fatal(err)
		}
		if err := r.HandleReply(ctx, replyTo(commandFor(t, be.ob, "o-1", "charge"), "charge.ok")); err != nil {
			t.Fatal(err)
		}
		in = mustStatus(t, st, "o-1", saga.Done)
		if !in.Due().IsZero() {
			t.Fatalf("done saga has a timer at %v", in.Due())
		}
		finished := replyTo(reserve, "charge.ok")
		orphan := replyTo(outbox.Message{ID: "x/0/do/1", Key: "no-such-saga"}, "charge.ok")
		for _, e := range []event.Event{finished, orphan} {
			if err := r.HandleReply(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if out, _ := st.ReplyOutcome(ctx, orphan.ID); !strings.Contains(out, "no such instance") {
			t.Fatalf("orphan reply outcome %q", out)
		}
		if out, _ := st.ReplyOutcome(ctx, late.ID); !strings.Contains(out, "not awaited") && !strings.Contains(out, "not the current step") {
			t.Fatalf("late reply outcome %q", out)
		}
		h, err := st.History(ctx, "o-1")
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, e := range h {
			lines = append(lines, fmt.Sprintf("%s v%d %s %v", e.Input, e.Version, e.Status, e.Sent))
		}
		want := []string{"start v0 running [o-1/0/do/1]", "reply v1 running [o-1/1/do/1]", "reply v1 running []",
			"reply v2 done []", "reply v2 done []"}
		if strings.Join(lines, "; ") != strings.Join(want, "; ") {
			t.Fatalf("history:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
		list, err := st.List(ctx, saga.Filter{Status: saga.Done, Type: "two"})
		if err != nil || len(list) != 1 || list[0].ID != "o-1" {
			t.Fatalf("list: %v %v", list, err)
		}
	})
}

// TestFailureCompensatesInReverse: a failure reply at the last step
// compensates the first; a compensation that keeps failing leaves the
// saga stuck with its error until an operator retries it.
func TestFailureCompensatesInReverse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		_, st := be.open(t)
		d := twoStep(time.Minute)
		d.Steps[0].CompensationRetry = saga.RetryPolicy{MaxAttempts: 2, Backoff: time.Millisecond}
		r := newRunner(t, st, d)
		if _, err := r.Start(ctx, "two", "o-1", nil); err != nil {
			t.Fatal(err)
		}
		apply := func(typ, reply string) {
			t.Helper()
			if err := r.HandleReply(ctx, replyTo(commandFor(t, be.ob, "o-1", typ), reply)); err != nil {
				t.Fatal(err)
			}
		}
		apply("reserve", "reserve.ok")
		apply("charge", "charge.failed")
		in := mustStatus(t, st, "o-1", saga.Compensating)
		if in.Step != 0 || !strings.Contains(in.Error, "charge.failed") {
			t.Fatalf("compensating: %+v", in)
		}
		apply("release", "release.failed") // attempt 1 of 2
		testenv.CheckFor(t, 10*time.Second, func() error {
			if _, err := r.FireTimers(ctx); err != nil {
				return err
			}
			if in, _ := st.Get(ctx, "o-1"); in.Attempt != 2 || in.Backoff {
				return fmt.Errorf("attempt %d backoff %v", in.Attempt, in.Backoff)
			}
			return nil
		})
		if _, err := r.Retry(ctx, "o-1"); err == nil {
			t.Fatal("retry of a compensating saga accepted")
		}
		msgs := pending(t, be.ob)
		if err := r.HandleReply(ctx, replyTo(msgs[len(msgs)-1], "release.failed")); err != nil {
			t.Fatal(err)
		}
		in = mustStatus(t, st, "o-1", saga.Stuck)
		if !strings.Contains(in.Error, "release.failed") || !in.Due().IsZero() {
			t.Fatalf("stuck: %+v", in)
		}
		if in, err := r.Retry(ctx, "o-1"); err != nil || in.Status != saga.Compensating || in.Attempt != 3 {
			t.Fatalf("retry: %+v %v", in, err)
		}
		msgs = pending(t, be.ob)
		last := msgs[len(msgs)-1]
		if last.ID != "o-1/0/undo/3" {
			t.Fatalf("the operator's retry sent %s, want a new command id o-1/0/undo/3", last.ID)
		}
		if err := r.HandleReply(ctx, replyTo(last, "release.ok")); err != nil {
			t.Fatal(err)
		}
		mustStatus(t, st, "o-1", saga.Compensated)
	})
}

// TestTimersSurviveRestart: a step deadline stored by one runner fires in
// another opened later on the same database, and the retry's command is
// written.
func TestTimersSurviveRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		db1, st1 := be.open(t)
		d := twoStep(100 * time.Millisecond)
		d.Steps[0].CompensationRetry.MaxAttempts = 1
		r1 := newRunner(t, st1, d)
		if _, err := r1.Start(ctx, "two", "o-1", nil); err != nil {
			t.Fatal(err)
		}
		db1.Close() // the first process is gone
		_, st2 := be.open(t)
		r2 := newRunner(t, st2, d)
		testenv.CheckFor(t, 10*time.Second, func() error {
			if _, err := r2.FireTimers(ctx); err != nil {
				return err
			}
			in, err := st2.Get(ctx, "o-1")
			if err != nil {
				return err
			}
			if in.Status != saga.Stuck || !strings.Contains(in.Error, "compensation of reserve timed out") {
				return fmt.Errorf("%s step %d attempt %d: %s", in.Status, in.Step, in.Attempt, in.Error)
			}
			return nil
		})
		// reserve timed out twice (two attempts), then its compensation
		// ran (a timed-out step may have taken effect) and timed out too:
		// stuck after its one attempt.
		ids := map[string]bool{}
		for _, m := range pending(t, be.ob) {
			ids[m.ID] = true
		}
		for _, id := range []string{"o-1/0/do/1", "o-1/0/do/2", "o-1/0/undo/1"} {
			if !ids[id] {
				t.Fatalf("command %s not written; outbox has %v", id, ids)
			}
		}
	})
}

// TestTwoWorkersOneDatabase: two runners on their own connections to one
// database get every reply and fire every timer; each instance is
// advanced once per input: its history has each version once, and each
// command was written once.
func TestTwoWorkersOneDatabase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		_, st1 := be.open(t)
		_, st2 := be.open(t)
		d := twoStep(time.Minute)
		r1, r2 := newRunner(t, st1, d), newRunner(t, st2, d)
		const n = 20
		for i := range n {
			if _, err := r1.Start(ctx, "two", fmt.Sprint("o-", i), nil); err != nil {
				t.Fatal(err)
			}
		}
		var applied atomic.Int64
		for _, step := range []string{"reserve", "charge"} {
			var replies []event.Event
			for _, m := range pending(t, be.ob) {
				if e, _ := event.FromRecord(m.Record()); e.Type == step {
					replies = append(replies, replyTo(m, step+".ok"))
				}
			}
			if len(replies) != n {
				t.Fatalf("%d %s commands, want %d", len(replies), step, n)
			}
			var wg sync.WaitGroup
			for _, r := range []*saga.Runner{r1, r2} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, e := range replies {
						// A second delivery under another id, so that reply
						// dedup does not hide the race the version check must win.
						e.ID = e.ID + fmt.Sprintf("-%p", r)
						if err := r.HandleReply(ctx, e); err != nil {
							t.Error(err)
						}
						applied.Add(1)
					}
				}()
			}
			wg.Wait()
		}
		for i := range n {
			id := fmt.Sprint("o-", i)
			mustStatus(t, st1, id, saga.Done)
			h, err := st1.History(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			versions := map[int64]int{}
			for _, e := range h {
				if !strings.HasPrefix(e.Note, "ignored") {
					versions[e.Version]++
				}
			}
			if len(versions) != 3 || versions[0] != 1 || versions[1] != 1 || versions[2] != 1 {
				t.Fatalf("%s: applied versions %v, want 0,1,2 once each; history %+v", id, versions, h)
			}
		}
		seen := map[string]int{}
		for _, m := range pending(t, be.ob) {
			seen[m.ID]++
			if seen[m.ID] > 1 {
				t.Fatalf("command %s written twice", m.ID)
			}
		}
		if len(seen) != 2*n {
			t.Fatalf("%d commands, want %d", len(seen), 2*n)
		}
	})
}

// TestFuncSteps: Func actions and compensations run after the transition
// is stored; an error is retried, then compensated.
func TestFuncSteps(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		_, st := be.open(t)
		var mu sync.Mutex
		var calls []string
		fn := func(name string, fail bool) func(context.Context, saga.Data) (json.RawMessage, error) {
			return func(_ context.Context, d saga.Data) (json.RawMessage, error) {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, name)
				if fail {
					return nil, errors.New(name + " failed")
				}
				return json.RawMessage(`"` + name + `"`), nil
			}
		}
		d := saga.Definition{Name: "funcs", Steps: []saga.Step{
			{Name: "a", Action: saga.Action{Func: fn("a", false)}, Compensation: saga.Action{Func: fn("undo-a", false)}},
			{Name: "b", Action: saga.Action{Func: fn("b", true)}, Retry: saga.RetryPolicy{MaxAttempts: 2, Backoff: time.Millisecond}},
		}}
		r := newRunner(t, st, d)
		if _, err := r.Start(ctx, "funcs", "f-1", nil); err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(runCtx) }()
		defer func() { cancel(); <-done }()
		testenv.CheckFor(t, 10*time.Second, func() error {
			in, err := st.Get(ctx, "f-1")
			if err != nil || in.Status != saga.Compensated {
				return fmt.Errorf("%+v: %w", in, err)
			}
			return nil
		})
		mu.Lock()
		defer mu.Unlock()
		// b failed twice; a failed function's step is not compensated, the
		// one before it is. Run's resume of waiting calls does not call
		// again what Start called in this process.
		if got := strings.Join(calls, ","); got != "a,b,b,undo-a" {
			t.Fatalf("calls %s", got)
		}
	})
}

func TestAbort(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		_, st := be.open(t)
		r := newRunner(t, st, twoStep(time.Minute))
		if _, err := r.Start(ctx, "two", "o-1", nil); err != nil {
			t.Fatal(err)
		}
		in, err := r.Abort(ctx, "o-1", "customer cancelled")
		if err != nil || in.Status != saga.Compensating || in.Error != "aborted: customer cancelled" {
			t.Fatalf("abort: %+v %v", in, err)
		}
		commandFor(t, be.ob, "o-1", "release")
		if _, err := r.Abort(ctx, "missing", ""); !errors.Is(err, saga.ErrNotFound) {
			t.Fatalf("abort of a missing instance: %v", err)
		}
	})
}

// TestOperatorRequests: abort and retry filed through a store with no
// outbox (as the herald saga commands do) are carried out by a runner.
func TestOperatorRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		db, st := be.open(t)
		d := twoStep(time.Minute)
		d.Steps[0].CompensationRetry = saga.RetryPolicy{MaxAttempts: 1}
		r := newRunner(t, st, d)
		for _, id := range []string{"run", "stuck"} {
			if _, err := r.Start(ctx, "two", id, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.Abort(ctx, "stuck", "test"); err != nil {
			t.Fatal(err)
		}
		if err := r.HandleReply(ctx, replyTo(commandFor(t, be.ob, "stuck", "release"), "release.failed")); err != nil {
			t.Fatal(err)
		}
		mustStatus(t, st, "stuck", saga.Stuck)
		ops, err := saga.NewStore(ctx, db, nil, saga.StoreConfig{Dialect: st.Dialect(), Prefix: st.Prefix()})
		if err != nil {
			t.Fatal(err)
		}
		if err := ops.Request(ctx, "nope", saga.Retry{}); !errors.Is(err, saga.ErrNotFound) {
			t.Fatalf("request for a missing instance: %v", err)
		}
		if err := ops.Request(ctx, "stuck", saga.Retry{}); err != nil {
			t.Fatal(err)
		}
		if err := ops.Request(ctx, "run", saga.Abort{Reason: "operator"}); err != nil {
			t.Fatal(err)
		}
		runAll(t, r.Run)
		testenv.CheckFor(t, 10*time.Second, func() error {
			a, _ := st.Get(ctx, "run")
			b, _ := st.Get(ctx, "stuck")
			if a.Status != saga.Compensating || a.Error != "aborted: operator" || b.Status != saga.Compensating || b.Attempt != 2 {
				return fmt.Errorf("run %s %q, stuck %s attempt %d", a.Status, a.Error, b.Status, b.Attempt)
			}
			return nil
		})
		commandFor(t, be.ob, "stuck", "release") // the retry's command
	})
}

// TestDatabaseGoesAway: with its database gone, a reply fails with an
// error the router retries without counting (Transient), and nothing is
// lost: once the database is back the same reply is applied.
func TestDatabaseGoesAway(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		db, st := be.open(t)
		r := newRunner(t, st, twoStep(time.Minute))
		if _, err := r.Start(ctx, "two", "o-1", nil); err != nil {
			t.Fatal(err)
		}
		reply := replyTo(commandFor(t, be.ob, "o-1", "reserve"), "reserve.ok")
		db.Close()
		err := r.Handler()(ctx, &pubsub.Message{Event: reply})
		if err == nil || !pubsub.IsTransient(err) {
			t.Fatalf("reply with the database gone: %v, want a transient error", err)
		}
		if _, err := r.Start(ctx, "two", "o-2", nil); err == nil {
			t.Fatal("start with the database gone succeeded")
		}
		_, st2 := be.open(t)
		r2 := newRunner(t, st2, twoStep(time.Minute))
		if err := r2.Handler()(ctx, &pubsub.Message{Event: reply}); err != nil {
			t.Fatal(err)
		}
		if in := mustStatus(t, st2, "o-1", saga.Running); in.Step != 1 {
			t.Fatalf("after the reply: step %d", in.Step)
		}
	})
}

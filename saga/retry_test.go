package saga_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/postgres"
	"github.com/heraldhq/herald/outbox/sqlite"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
	"github.com/heraldhq/herald/saga"
)

// failRelease answers instance id's latest release command with
// release.failed and, unless that left it stuck, fires its backoff timer
// until the next attempt's command is written.
func failRelease(t *testing.T, r *saga.Runner, ob outbox.Store, id string) saga.Instance {
	t.Helper()
	ctx := context.Background()
	before, err := r.Store().Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s/0/undo/%d", id, before.Attempt)
	var cmd outbox.Message
	for _, m := range pending(t, ob) {
		if m.ID == want {
			cmd = m
		}
	}
	if cmd.ID == "" {
		t.Fatalf("command %s not in the outbox", want)
	}
	if err := r.HandleReply(ctx, replyTo(cmd, "release.failed")); err != nil {
		t.Fatal(err)
	}
	var in saga.Instance
	testenv.CheckFor(t, 10*time.Second, func() error {
		if _, err := r.FireTimers(ctx); err != nil {
			return err
		}
		if in, err = r.Store().Get(ctx, id); err != nil {
			return err
		}
		if in.Status == saga.Stuck || in.Attempt == before.Attempt+1 && !in.Backoff {
			return nil
		}
		return fmt.Errorf("%s attempt %d backoff %v", in.Status, in.Attempt, in.Backoff)
	})
	return in
}

// TestOperatorRetryFreshBudget: `herald saga retry` (Store.Request, here
// carried out by Runner.Retry and by a runner's Run) gives a stuck
// saga's compensation its whole retry policy again, not one attempt; the
// budget is stored with the instance, so a runner opened after a restart
// keeps counting it; the history shows each operator's retry.
func TestOperatorRetryFreshBudget(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		db, st := be.open(t)
		d := twoStep(time.Minute)
		d.Steps[0].CompensationRetry = saga.RetryPolicy{MaxAttempts: 3, Backoff: time.Millisecond}
		r := newRunner(t, st, d)
		if _, err := r.Start(ctx, "two", "o-1", nil); err != nil {
			t.Fatal(err)
		}
		for _, step := range [][2]string{{"reserve", "reserve.ok"}, {"charge", "charge.failed"}} { // in order: charge is sent after reserve.ok
			typ, reply := step[0], step[1]
			if err := r.HandleReply(ctx, replyTo(commandFor(t, be.ob, "o-1", typ), reply)); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			failRelease(t, r, be.ob, "o-1")
		}
		if in := mustStatus(t, st, "o-1", saga.Stuck); in.Attempt != 3 {
			t.Fatalf("stuck after attempt %d, want 3", in.Attempt)
		}

		in, err := r.Retry(ctx, "o-1")
		if err != nil || in.Status != saga.Compensating || in.Attempt != 4 || in.AttemptBase != 3 {
			t.Fatalf("retry: %+v %v", in, err)
		}
		if in = failRelease(t, r, be.ob, "o-1"); in.Status != saga.Compensating || in.Attempt != 5 {
			t.Fatalf("after the retry's first failure: %s attempt %d, want compensating attempt 5", in.Status, in.Attempt)
		}
		// A restart: the budget comes from the database.
		_, st2 := be.open(t)
		r2 := newRunner(t, st2, d)
		if in = failRelease(t, r2, be.ob, "o-1"); in.Status != saga.Compensating || in.Attempt != 6 || in.AttemptBase != 3 {
			t.Fatalf("after a restart: %+v, want compensating attempt 6 of the budget from 3", in)
		}
		if in = failRelease(t, r2, be.ob, "o-1"); in.Status != saga.Stuck || in.Attempt != 6 {
			t.Fatalf("the fresh budget spent: %s attempt %d, want stuck at 6", in.Status, in.Attempt)
		}

		// The CLI's way: a request in the database, carried out by Run.
		ops, err := saga.NewStore(ctx, db, nil, saga.StoreConfig{Dialect: st.Dialect(), Prefix: st.Prefix()})
		if err != nil {
			t.Fatal(err)
		}
		if err := ops.Request(ctx, "o-1", saga.Retry{}); err != nil {
			t.Fatal(err)
		}
		runAll(t, r2.Run)
		testenv.CheckFor(t, 10*time.Second, func() error {
			if in, _ = st2.Get(ctx, "o-1"); in.Status != saga.Compensating || in.Attempt != 7 || in.AttemptBase != 6 {
				return fmt.Errorf("request not carried out: %s attempt %d base %d", in.Status, in.Attempt, in.AttemptBase)
			}
			return nil
		})
		if err := r2.HandleReply(ctx, replyTo(commandFor(t, be.ob, "o-1", "release"), "release.ok")); err != nil {
			t.Fatal(err)
		}
		mustStatus(t, st2, "o-1", saga.Compensated)

		h, err := st2.History(ctx, "o-1")
		if err != nil {
			t.Fatal(err)
		}
		var retries []string
		for _, e := range h {
			if e.Input == "retry" {
				retries = append(retries, e.Note)
			}
		}
		if len(retries) != 2 || !strings.Contains(retries[0], "retry by operator: 3 more attempts") ||
			!strings.Contains(retries[1], "compensation of reserve attempt 7") {
			t.Fatalf("history's retries: %q", retries)
		}
		for i := 1; i <= 7; i++ {
			if !hasMessage(t, be.ob, fmt.Sprintf("o-1/0/undo/%d", i)) {
				t.Fatalf("command o-1/0/undo/%d not written", i)
			}
		}
	})
}

func hasMessage(t *testing.T, ob outbox.Store, id string) bool {
	t.Helper()
	for _, m := range pending(t, ob) {
		if m.ID == id {
			return true
		}
	}
	return false
}

// oldInstancesDDL is the instances table as the first version of the
// package made it, before attempt_base.
const oldInstancesDDL = `CREATE TABLE %s_instances (id TEXT PRIMARY KEY, type TEXT NOT NULL,
	status TEXT NOT NULL, step INTEGER NOT NULL, attempt INTEGER NOT NULL, backoff INTEGER NOT NULL,
	data TEXT NOT NULL, deadline BIGINT NOT NULL, saga_deadline BIGINT NOT NULL, due BIGINT NOT NULL,
	error TEXT NOT NULL, version BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)`

// TestStoreMigratesOldTables: a database made before attempt_base, with
// a stuck instance in it, gets the column when a store opens it (twice
// is fine), and the instance can be retried.
func TestStoreMigratesOldTables(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			var (
				db     *sql.DB
				ob     outbox.Store
				cfg    saga.StoreConfig
				err    error
				prefix = "herald_saga"
			)
			if kind == "sqlite" {
				if db, err = sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "old.db"))); err == nil {
					ob, err = sqlite.New(ctx, db, sqlite.Config{})
				}
			} else {
				prefix = pubsubtest.UniqueName("sagaold")
				cfg = saga.StoreConfig{Dialect: saga.Postgres, Prefix: prefix}
				if db, err = sql.Open("pgx", pubsubtest.PostgresDSN(t)); err == nil {
					ob, err = postgres.New(ctx, db, postgres.Config{Table: prefix + "_outbox"})
				}
				t.Cleanup(func() {
					for _, tb := range []string{"_outbox", "_instances", "_history", "_replies", "_requests"} {
						db.Exec("DROP TABLE IF EXISTS " + prefix + tb)
					}
				})
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if _, err := db.Exec(fmt.Sprintf(oldInstancesDDL, prefix)); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`INSERT INTO ` + prefix + `_instances VALUES ('o-1', 'two', 'stuck', 0, 20, 0, '{"input":null}', 0, 0, 0,
				'release.failed', 9, 1, 1)`); err != nil {
				t.Fatal(err)
			}
			var st *saga.Store
			for range 2 {
				if st, err = saga.NewStore(ctx, db, ob, cfg); err != nil {
					t.Fatalf("open an old database: %v", err)
				}
			}
			if in := mustStatus(t, st, "o-1", saga.Stuck); in.Attempt != 20 || in.AttemptBase != 0 {
				t.Fatalf("old instance: %+v", in)
			}
			d := twoStep(time.Minute)
			d.Steps[0].CompensationRetry = saga.RetryPolicy{MaxAttempts: 2, Backoff: time.Millisecond}
			r := newRunner(t, st, d)
			if in, err := r.Retry(ctx, "o-1"); err != nil || in.Attempt != 21 || in.AttemptBase != 20 {
				t.Fatalf("retry: %+v %v", in, err)
			}
			if in := failRelease(t, r, ob, "o-1"); in.Status != saga.Compensating || in.Attempt != 22 {
				t.Fatalf("after one failure: %s attempt %d", in.Status, in.Attempt)
			}
		})
	}
}

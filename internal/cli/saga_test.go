package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/outbox/sqlite"
	"github.com/heraldhq/herald/saga"
)

// sagaFixture makes a SQLite file with two instances of a two-step saga:
// "o-1" running and "o-2" stuck; it returns the path and the runner.
func sagaFixture(t *testing.T) (string, *saga.Runner) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sagas.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ob, err := sqlite.New(ctx, db, sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := saga.NewStore(ctx, db, ob, saga.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := saga.NewRunner(saga.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	act := func(name string) saga.Action {
		return saga.Action{Topic: "t", Command: name, Success: name + ".ok", Failure: name + ".failed"}
	}
	err = r.Register(saga.Definition{Name: "order", Steps: []saga.Step{
		{Name: "stock", Action: act("reserve"), Compensation: act("release"), CompensationRetry: saga.RetryPolicy{MaxAttempts: 1}},
		{Name: "pay", Action: act("charge")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"o-1", "o-2"} {
		if _, err := r.Start(ctx, "order", id, map[string]string{"id": id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Abort(ctx, "o-2", "test"); err != nil {
		t.Fatal(err)
	}
	reply := event.New("/test", "release.failed", nil)
	reply.CorrelationID = "o-2"
	if err := r.HandleReply(ctx, reply); err != nil {
		t.Fatal(err)
	}
	return path, r
}

func TestSagaCommands(t *testing.T) {
	path, r := sagaFixture(t)
	var list []sagaInstance
	out := ok(t, "", "", "saga", "list", "--db", path, "--state", "stuck", "-o", "json").out
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].ID != "o-2" || list[0].State != "stuck" {
		t.Fatalf("list --state stuck: %v %s", err, out)
	}
	if out := ok(t, "", "", "saga", "list", "--db", path).out; !strings.Contains(out, "o-1") || !strings.Contains(out, "running") {
		t.Fatalf("list:\n%s", out)
	}
	var show sagaInstance
	out = ok(t, "", "", "saga", "show", "o-2", "--db", path, "-o", "json").out
	if err := json.Unmarshal([]byte(out), &show); err != nil || len(show.History) != 3 || show.History[0].Sent[0] != "o-2/0/do/1" ||
		!strings.Contains(show.Error, "release.failed") || show.Data["input"] != `{"id":"o-2"}` {
		t.Fatalf("show: %v %s", err, out)
	}
	if out := ok(t, "", "", "saga", "show", "o-2", "--db", path).out; !strings.Contains(out, "stuck") || !strings.Contains(out, "NOTE") {
		t.Fatalf("show:\n%s", out)
	}
	fails(t, "", "", "no such instance", "saga", "show", "o-9", "--db", path)
	fails(t, "", "", "only a stuck saga", "saga", "retry", "o-1", "--db", path)
	fails(t, "", "", "only a running saga", "saga", "abort", "o-2", "--db", path)
	fails(t, "", "", "unknown --state", "saga", "list", "--db", path, "--state", "sleeping")
	fails(t, "", "", "no such file", "saga", "list", "--db", filepath.Join(t.TempDir(), "missing.db"))
	ok(t, "", "", "saga", "retry", "o-2", "--db", path)
	ok(t, "", "", "saga", "abort", "o-1", "--db", path, "--reason", "customer")

	// A runner carries the requests out.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	testenv.CheckFor(t, 10*time.Second, func() error {
		var got []sagaInstance
		out := ok(t, "", "", "saga", "list", "--db", path, "--state", "compensating", "-o", "json").out
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			return err
		}
		if len(got) != 2 {
			return fmt.Errorf("requests not carried out: %s", out)
		}
		return nil
	})
	// The operator's retry is in the history, with its fresh budget.
	var shown sagaInstance
	out = ok(t, "", "", "saga", "show", "o-2", "--db", path, "-o", "json").out
	if err := json.Unmarshal([]byte(out), &shown); err != nil || len(shown.History) == 0 {
		t.Fatalf("show after retry: %v %s", err, out)
	}
	if last := shown.History[len(shown.History)-1]; last.Input != "retry" || !strings.Contains(last.Note, "retry by operator: 1 more attempts") ||
		shown.AttemptBase != 1 || shown.Attempt != 2 {
		t.Fatalf("show after retry: %+v, last entry %+v", shown, last)
	}
}

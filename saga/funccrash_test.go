package saga_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/sqlbind"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/saga"
)

const (
	funcChildEnv  = "HERALD_SAGA_FUNC_CHILD"  // the database (see crashDB); set in the child
	funcOrdersEnv = "HERALD_SAGA_FUNC_ORDERS" // how many orders the child starts
)

// ledger is a service's SQL tables that Func actions change: accounts
// (one per order, 1000 to start with) and the effects applied, keyed by
// the calls' idempotency keys; calls logs every call, effect or not.
type ledger struct {
	db                      *sql.DB
	postgres                bool
	accounts, effects, logs string
	// hang, when set, blocks every call that applies a fresh effect,
	// after its commit: the process dies there (SIGKILL) with the effect
	// made and its result not stored.
	hang bool
}

func newLedger(db *sql.DB, prefix string, postgres bool) *ledger {
	return &ledger{db: db, postgres: postgres, accounts: prefix + "_fx_accounts", effects: prefix + "_fx_effects", logs: prefix + "_fx_calls"}
}

func (l *ledger) q(q string) string {
	q = strings.NewReplacer("%accounts", l.accounts, "%effects", l.effects, "%calls", l.logs).Replace(q)
	if l.postgres {
		return sqlbind.Numbered(q)
	}
	return q
}

func (l *ledger) create(t testing.TB, orders []Order) {
	t.Helper()
	for _, q := range []string{
		`CREATE TABLE %accounts (id TEXT PRIMARY KEY, balance BIGINT NOT NULL)`,
		`CREATE TABLE %effects (key TEXT PRIMARY KEY, order_id TEXT NOT NULL, what TEXT NOT NULL)`,
		`CREATE TABLE %calls (key TEXT NOT NULL)`,
	} {
		if _, err := l.db.Exec(l.q(q)); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range orders {
		if _, err := l.db.Exec(l.q(`INSERT INTO %accounts (id, balance) VALUES (?, 1000)`), o.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// action is a Func that moves sign*amount on the order's account, once
// per idempotency key: the key and the balance change commit together.
// "notify" of an order over 100 fails (the payment is declined).
func (l *ledger) action(what string, sign int) func(context.Context, saga.Data) (json.RawMessage, error) {
	return func(ctx context.Context, d saga.Data) (json.RawMessage, error) {
		key, ok := saga.IdempotencyKey(ctx)
		if !ok {
			return nil, errors.New("no idempotency key in the call's ctx")
		}
		var o Order
		if err := json.Unmarshal(d["input"], &o); err != nil {
			return nil, err
		}
		if _, err := l.db.ExecContext(ctx, l.q(`INSERT INTO %calls (key) VALUES (?)`), key); err != nil {
			return nil, err
		}
		if what == "notify" && o.Amount > 100 {
			return nil, errors.New("declined")
		}
		fresh, err := l.apply(ctx, key, o, what, sign*o.Amount)
		if err != nil {
			return nil, err
		}
		if fresh && l.hang {
			select {} // killed here: the effect is committed, its result never stored
		}
		return json.RawMessage(strconv.Quote(what)), nil
	}
}

func (l *ledger) apply(ctx context.Context, key string, o Order, what string, delta int) (fresh bool, err error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	res, err := tx.ExecContext(ctx, l.q(`INSERT INTO %effects (key, order_id, what) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`), key, o.ID, what)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	if n == 1 {
		if _, err := tx.ExecContext(ctx, l.q(`UPDATE %accounts SET balance = balance + ? WHERE id = ?`), delta, o.ID); err != nil {
			return false, err
		}
	}
	return n == 1, tx.Commit()
}

// fxSaga debits the order's account, then notifies (which fails for a
// declined order, so the debit is credited back); both are functions.
func fxSaga(l *ledger) saga.Definition {
	return saga.Definition{Name: "fx", Steps: []saga.Step{
		{Name: "debit", Action: saga.Action{Func: l.action("debit", -1)}, Compensation: saga.Action{Func: l.action("credit", 1)}},
		{Name: "notify", Action: saga.Action{Func: l.action("notify", 0)}, Retry: saga.RetryPolicy{MaxAttempts: 1}},
	}}
}

// TestFuncCrashChild is the child process of TestFuncCrash: it runs the
// fx saga's runner until it is killed.
func TestFuncCrashChild(t *testing.T) {
	spec := os.Getenv(funcChildEnv)
	if spec == "" {
		t.Skip("the child process of TestFuncCrash; runs only when started by it")
	}
	n, _ := strconv.Atoi(os.Getenv(funcOrdersEnv))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, _, st := openCrashDB(t, spec)
	l := newLedger(db, st.Prefix(), st.Dialect() == saga.Postgres)
	l.hang = true
	r := newRunner(t, st, fxSaga(l))
	for _, o := range crashOrderList(n) {
		if _, err := r.Start(ctx, "fx", o.ID, o); err != nil && !errors.Is(err, saga.ErrExists) {
			t.Fatal(err)
		}
	}
	_ = r.Run(ctx)
}

// TestFuncCrash, on SQLite and PostgreSQL, SIGKILLs a child process
// running sagas of Func actions each time functions have committed their
// effect and before their result is stored (they hang there).
// After each restart the function is called again with the same
// idempotency key, and finds its effect made: every effect happened once
// and every balance is right, though functions ran twice.
func TestFuncCrash(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" || os.Getenv(funcChildEnv) != "" {
		t.Skip("in a crash child")
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) { testFuncCrash(t, kind) })
	}
}

func testFuncCrash(t *testing.T, kind string) {
	cdb := newCrashDB(t, kind)
	prefix := strings.TrimSuffix(cdb.instances, "_instances")
	l := newLedger(cdb.db, prefix, kind == "postgres")
	orders := crashOrderList(2) // one notified, one declined and credited back
	l.create(t, orders)
	if kind == "postgres" {
		t.Cleanup(func() {
			for _, tb := range []string{l.accounts, l.effects, l.logs} {
				cdb.db.Exec("DROP TABLE IF EXISTS " + tb)
			}
		})
	}
	count := func(q string) int { return countRows(t, cdb.db, l.q(q)) }
	effects, kills := 0, 0
	for cycle := 0; cycle < 10; cycle++ {
		child := startFuncChild(t, cdb.spec, len(orders))
		var rest bool
		testenv.CheckFor(t, 60*time.Second, func() error {
			n := count(`SELECT COUNT(*) FROM %effects`)
			rest = cdb.count(t, `SELECT COUNT(*) FROM %instances WHERE status NOT IN ('running', 'compensating')`) == len(orders)
			if n > effects || rest {
				effects = n
				return nil
			}
			return fmt.Errorf("%d effects, waiting for one more", n)
		})
		killChild(t, child)
		if rest {
			break
		}
		kills++
	}
	t.Logf("%d kills between a function's effect and the store of its result", kills)
	if kills < 2 {
		t.Fatalf("%d kills: the test did not crash where it must", kills)
	}
	for _, o := range orders {
		var status string
		if err := cdb.db.QueryRow(`SELECT status FROM ` + cdb.instances + ` WHERE id = '` + o.ID + `'`).Scan(&status); err != nil {
			t.Fatal(err)
		}
		want, balance, done := saga.Done, 1000-o.Amount, "debit notify"
		if o.Amount > 100 {
			want, balance, done = saga.Compensated, 1000, "credit debit"
		}
		if saga.Status(status) != want {
			t.Fatalf("%s is %s, want %s", o.ID, status, want)
		}
		if got := countRowsArg(t, cdb.db, l.q(`SELECT balance FROM %accounts WHERE id = ?`), o.ID); got != balance {
			t.Fatalf("%s: balance %d, want %d", o.ID, got, balance)
		}
		rows, err := cdb.db.Query(l.q(`SELECT what FROM %effects WHERE order_id = ? ORDER BY what`), o.ID)
		if err != nil {
			t.Fatal(err)
		}
		var whats []string
		for rows.Next() {
			var w string
			if err := rows.Scan(&w); err != nil {
				t.Fatal(err)
			}
			whats = append(whats, w)
		}
		rows.Close()
		if got := strings.Join(whats, " "); got != done {
			t.Fatalf("%s: effects %q, want %q, each once", o.ID, got, done)
		}
	}
	// Every effect was made by a call that was killed before its result
	// was stored, and called again with the same key after the restart.
	again := count(`SELECT COUNT(*) FROM %effects e WHERE (SELECT COUNT(*) FROM %calls c WHERE c.key = e.key) > 1`)
	if again != 4 {
		t.Fatalf("%d of 4 effects' keys called more than once, want all", again)
	}
}

func countRowsArg(t *testing.T, db *sql.DB, q string, arg any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, arg).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func startFuncChild(t *testing.T, spec string, orders int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFuncCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), funcChildEnv+"="+spec, funcOrdersEnv+"="+strconv.Itoa(orders))
	if testing.Verbose() {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

package saga_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/postgres"
	"github.com/heraldhq/herald/outbox/sqlite"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
	"github.com/heraldhq/herald/saga"
)

const (
	crashChildEnv = "HERALD_SAGA_CRASH_CHILD" // the database (see crashDB); set in the child
	crashArgsEnv  = "HERALD_SAGA_CRASH_ARGS"  // broker|group|orders|inventory,payments,shipping,replies
)

var crashOrders = flag.Int("saga.crash.orders", 4, "orders in TestCrash (kill cycles grow with them)")

// TestCrashChild is the child process of TestCrash: it runs the order
// saga's runner and relay on a SQLite file until it is killed.
func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashChildEnv)
	if spec == "" {
		t.Skip("the child process of TestCrash; runs only when started by it")
	}
	args := strings.Split(os.Getenv(crashArgsEnv), "|")
	seeds, group := []string{args[0]}, args[1]
	n, _ := strconv.Atoi(args[2])
	tn := strings.Split(args[3], ",")
	tp := topics{Inventory: tn[0], Payments: tn[1], Shipping: tn[2], Replies: tn[3]}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, ob, st := openCrashDB(t, spec)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	// A slow relay keeps commands written and not yet published for a
	// while: the window the parent aims its kills at.
	relay, err := outbox.NewRelay(ob, cl, outbox.RelayConfig{PollInterval: 300 * time.Millisecond, Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := saga.NewRunner(saga.Config{Store: st, Brokers: seeds, Group: group, ReplyTopics: []string{tp.Replies},
		PollInterval: 50 * time.Millisecond, Logger: logger(), ClientOpts: []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Register(orderSaga(newShop(), tp, time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, o := range crashOrderList(n) {
		if _, err := r.Start(ctx, "order", o.ID, o); err != nil && !errors.Is(err, saga.ErrExists) {
			t.Fatal(err)
		}
	}
	go relay.Run(ctx)
	_ = r.Run(ctx)
}

// crashDB is the database of the crash tests: "sqlite:<path>" or
// "postgres:<prefix>" (the server of pubsubtest.PostgresDSN).
type crashDB struct {
	spec, instances, history, outbox string
	db                               *sql.DB
}

func newCrashDB(t *testing.T, kind string) crashDB {
	spec := "sqlite:" + filepath.Join(t.TempDir(), "saga.db")
	if kind == "postgres" {
		spec = "postgres:" + pubsubtest.UniqueName("sagacrash")
	}
	db, _, st := openCrashDB(t, spec) // creates the tables, so that the parent can watch them
	p := st.Prefix()
	c := crashDB{spec: spec, db: db, instances: p + "_instances", history: p + "_history", outbox: "herald_outbox"}
	if kind == "postgres" {
		c.outbox = p + "_outbox"
		t.Cleanup(func() {
			for _, tb := range []string{"_outbox", "_instances", "_history", "_replies", "_requests"} {
				db.Exec("DROP TABLE IF EXISTS " + p + tb)
			}
		})
	}
	return c
}

// count runs a COUNT query in which %instances, %history and %outbox
// name the tables.
func (c crashDB) count(t *testing.T, q string) int {
	t.Helper()
	q = strings.Replace(strings.Replace(strings.Replace(q, "%instances", c.instances, 1), "%history", c.history, 1), "%outbox", c.outbox, 1)
	return countRows(t, c.db, q)
}

func openCrashDB(t testing.TB, spec string) (*sql.DB, outbox.Store, *saga.Store) {
	ctx := context.Background()
	kind, arg, _ := strings.Cut(spec, ":")
	var (
		db  *sql.DB
		ob  outbox.Store
		cfg saga.StoreConfig
		err error
	)
	if kind == "postgres" {
		if db, err = sql.Open("pgx", pubsubtest.PostgresDSN(t)); err == nil {
			ob, err = postgres.New(ctx, db, postgres.Config{Table: arg + "_outbox"})
		}
		cfg = saga.StoreConfig{Dialect: saga.Postgres, Prefix: arg}
	} else {
		if db, err = sql.Open("sqlite", sqliteDSN(arg)); err == nil {
			ob, err = sqlite.New(ctx, db, sqlite.Config{Lease: time.Second})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := saga.NewStore(ctx, db, ob, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return db, ob, st
}

func crashOrderList(n int) []Order {
	var out []Order
	for i := range n {
		o := Order{ID: fmt.Sprint("c-", i), Amount: 10}
		if i%2 == 1 {
			o.Amount = 500 // declined: compensated
		}
		out = append(out, o)
	}
	return out
}

// TestCrash, on SQLite and on PostgreSQL, SIGKILLs a child process
// running sagas at one transition
// after another (each time it has stored a given number more), most kills
// landing between a state write and the publish of its command. After a
// last restart every saga finishes or compensates, the idempotent
// services executed no command twice, and no order was charged twice.
func TestCrash(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the crash child")
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) { testCrash(t, kind) })
	}
}

func testCrash(t *testing.T, kind string) {
	b := pubsubtest.New(t)
	tp := newTopics(b)
	s := newShop()
	services, err := s.services(b.Seeds, pubsubtest.Group("shop"), tp, logger())
	if err != nil {
		t.Fatal(err)
	}
	runAll(t, services.Run)
	cdb := newCrashDB(t, kind)
	orders := crashOrderList(*crashOrders)
	args := func(cycle int) string {
		return strings.Join([]string{b.Addr(), pubsubtest.Group(fmt.Sprint("saga-", cycle)), strconv.Itoa(len(orders)),
			strings.Join([]string{tp.Inventory, tp.Payments, tp.Shipping, tp.Replies}, ",")}, "|")
	}
	applied, inWindow, kills := 0, 0, 0
	for cycle := 0; ; cycle++ {
		child := startCrashChild(t, cdb.spec, args(cycle))
		target := applied + 1 + cycle%3
		var rest bool
		testenv.CheckFor(t, 60*time.Second, func() error {
			applied = cdb.count(t, `SELECT COUNT(*) FROM %history WHERE note NOT LIKE 'ignored%'`)
			rest = cdb.count(t, `SELECT COUNT(*) FROM %instances WHERE status IN ('running', 'compensating')`) == 0 && applied > 0
			if applied >= target || rest {
				return nil
			}
			return fmt.Errorf("%d transitions stored, waiting for %d", applied, target)
		})
		if rest {
			killChild(t, child)
			break
		}
		if cdb.count(t, `SELECT COUNT(*) FROM %outbox`) > 0 {
			inWindow++ // commands stored and not yet published
		}
		killChild(t, child)
		kills++
		t.Logf("cycle %d: killed at %d transitions", cycle, applied)
	}
	t.Logf("%d kills, %d between a state write and its publish; %d transitions", kills, inWindow, applied)
	if kills < 3 || inWindow == 0 {
		t.Fatalf("%d kills, %d in the write-to-publish window: the test did not crash where it must", kills, inWindow)
	}
	checkCrashOutcome(t, cdb, s, orders)
}

func checkCrashOutcome(t *testing.T, cdb crashDB, s *shop, orders []Order) {
	t.Helper()
	for _, o := range orders {
		var status, why string
		if err := cdb.db.QueryRow(`SELECT status, error FROM `+cdb.instances+` WHERE id = '`+o.ID+`'`).Scan(&status, &why); err != nil {
			t.Fatal(err)
		}
		want, effects := saga.Done, []string{"reserved", "charged", "shipped"}
		if o.Amount > 100 {
			want, effects = saga.Compensated, []string{"reserved", "declined", "released"}
		}
		if saga.Status(status) != want {
			t.Fatalf("%s is %s (%s), want %s", o.ID, status, why, want)
		}
		for _, what := range effects {
			if n := s.count(what, o.ID); n != 1 {
				t.Fatalf("%s: %s %d times", o.ID, what, n)
			}
		}
	}
	if tw := s.twice(); len(tw) > 0 {
		t.Fatalf("commands executed twice: %v", tw)
	}
}

func startCrashChild(t *testing.T, spec, args string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+spec, crashArgsEnv+"="+args)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if !testing.Verbose() {
		cmd.Stdout, cmd.Stderr = nil, nil
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func killChild(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

func countRows(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTwoProcesses runs two child processes on one SQLite file, each
// consuming every reply (their own consumer groups) and firing every
// timer: each instance is still advanced once per input, and no command
// is executed twice.
func TestTwoProcesses(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the crash child")
	}
	b := pubsubtest.New(t)
	tp := newTopics(b)
	s := newShop()
	services, err := s.services(b.Seeds, pubsubtest.Group("shop"), tp, logger())
	if err != nil {
		t.Fatal(err)
	}
	runAll(t, services.Run)
	cdb := newCrashDB(t, "sqlite")
	orders := crashOrderList(6)
	var children []*exec.Cmd
	for i := range 2 {
		args := strings.Join([]string{b.Addr(), pubsubtest.Group(fmt.Sprint("saga-", i)), strconv.Itoa(len(orders)),
			strings.Join([]string{tp.Inventory, tp.Payments, tp.Shipping, tp.Replies}, ",")}, "|")
		children = append(children, startCrashChild(t, cdb.spec, args))
	}
	testenv.CheckFor(t, 60*time.Second, func() error {
		if n := cdb.count(t, `SELECT COUNT(*) FROM %instances WHERE status NOT IN ('running', 'compensating')`); n != len(orders) {
			return fmt.Errorf("%d of %d sagas at rest", n, len(orders))
		}
		return nil
	})
	for _, c := range children {
		killChild(t, c)
	}
	checkCrashOutcome(t, cdb, s, orders)
	dup := cdb.count(t, `SELECT COUNT(*) FROM (SELECT instance_id, version FROM %history
		WHERE note NOT LIKE 'ignored%' GROUP BY instance_id, version HAVING COUNT(*) > 1) d`)
	if dup > 0 {
		t.Fatalf("%d instance versions applied twice", dup)
	}
}

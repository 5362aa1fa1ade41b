package projection_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/eventstore/eventstoretest"
	"github.com/heraldhq/herald/eventstore/postgres"
	"github.com/heraldhq/herald/eventstore/sqlite"
	"github.com/heraldhq/herald/projection"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// The kill test: a child process (this test binary, re-executed with
// killChildEnv set) appends events from 4 writers with an expected version
// each, prints every acknowledged append, and runs a projection that
// counts events per stream; the parent SIGKILLs it after a random number
// of acks, several times over one database. After each kill every
// acknowledged event must be in its stream at its version, the versions
// must have no holes, and the projection, run on from its checkpoint, must
// count every stored event exactly once.
const (
	killChildEnv   = "HERALD_ES_KILL_CHILD" // "sqlite:<path>" or "postgres:<schema>"
	killCycles     = 3
	killWriters    = 4
	killStreams    = 6
	killProjection = "kcounts"
)

func TestKillDuringAppendAndProjection(t *testing.T) {
	if spec := os.Getenv(killChildEnv); spec != "" {
		killChild(t, spec)
		return
	}
	t.Run("sqlite", func(t *testing.T) {
		killParent(t, "sqlite:"+t.TempDir()+"/kill.db")
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := sql.Open("pgx", pubsubtest.PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		schema := pubsubtest.UniqueName("kill")
		if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
				t.Errorf("drop schema: %v", err)
			}
		}()
		killParent(t, "postgres:"+schema)
	})
}

// openKill opens the store, runner and counting projection of spec.
func openKill(tb testing.TB, spec string) (*env, error) {
	e, err := openSpec(tb, spec, projection.Config{Batch: 5, Poll: 5 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	return e, e.runner.Register(context.Background(), e.counts(killProjection, nil))
}

// openSpec opens the store and a runner of spec: "sqlite:<path>" or
// "postgres:<schema>".
func openSpec(tb testing.TB, spec string, cfg projection.Config) (*env, error) {
	ctx := context.Background()
	kind, arg, _ := strings.Cut(spec, ":")
	e := &env{}
	var err error
	if kind == "sqlite" {
		e.d = projection.SQLite
		if e.db, err = sqlite.Open(arg); err != nil {
			return nil, err
		}
		e.store, err = sqlite.New(ctx, e.db, sqlite.Config{})
	} else {
		e.d, e.schema = projection.Postgres, arg+"."
		if e.db, err = sql.Open("pgx", pubsubtest.PostgresDSN(tb)); err != nil {
			return nil, err
		}
		e.store, err = postgres.New(ctx, e.db, postgres.Config{Prefix: e.schema + "events"})
	}
	if err != nil {
		return nil, err
	}
	cfg.Table = e.schema + "herald_projections"
	e.runner, err = projection.New(ctx, e.db, e.d, e.store, cfg)
	return e, err
}

// killChild appends and projects until it is killed.
func killChild(t *testing.T, spec string) {
	e, err := openKill(t, spec)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	ctx := context.Background()
	go func() { _ = e.runner.Run(ctx) }()
	var mu sync.Mutex // one line at a time on stdout
	var wg sync.WaitGroup
	for w := range killWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				stream := "k-" + strconv.Itoa((w+i)%killStreams)
				info, err := e.store.Stream(ctx, stream)
				if err != nil {
					continue
				}
				ev := eventstoretest.Event("x", "")
				res, err := e.store.Append(ctx, stream, expectation(info.Version), ev)
				if err != nil {
					continue
				}
				mu.Lock()
				fmt.Printf("ACK %s %d %s\n", stream, res.FirstVersion, ev.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func expectation(v int64) eventstore.ExpectedVersion {
	if v == eventstore.NoVersion {
		return eventstore.NoStream
	}
	return eventstore.Exact(v)
}

type ack struct {
	stream  string
	version int64
	id      string
}

func killParent(t *testing.T, spec string) {
	var acks []ack
	progressed := false // the child's projection had applied something when killed
	for cycle := range killCycles {
		acks = append(acks, killOnce(t, spec, 20+cycle*15)...)
		e, err := openKill(t, spec)
		if err != nil {
			t.Fatal(err)
		}
		checkAcked(t, e, acks)
		if checkProjection(t, e) > 0 {
			progressed = true
		}
		e.db.Close()
	}
	if !progressed {
		t.Fatal("the child's projection never applied an event before its kill: the test did not kill it mid-projection")
	}
	t.Logf("%d kills, %d acknowledged appends checked", killCycles, len(acks))
}

// killOnce runs a child until it has acknowledged n appends, SIGKILLs it
// and returns what it acknowledged.
func killOnce(t *testing.T, spec string, n int) []ack {
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringAppendAndProjection$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+spec)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acks []ack
	sc := bufio.NewScanner(out)
	for len(acks) < n && sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "ACK" {
			continue
		}
		v, _ := strconv.ParseInt(f[2], 10, 64)
		acks = append(acks, ack{f[1], v, f[3]})
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(acks) < n {
		t.Fatalf("child acknowledged %d appends before it ended, want %d", len(acks), n)
	}
	return acks
}

func checkAcked(t *testing.T, e *env, acks []ack) {
	t.Helper()
	stored := map[string]string{} // stream/version -> id
	for s := range killStreams {
		stream := "k-" + strconv.Itoa(s)
		recs, err := e.store.ReadStream(context.Background(), stream, eventstore.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if r.Version != int64(i) {
				t.Fatalf("%s: hole before version %d", stream, r.Version)
			}
			stored[stream+"/"+strconv.FormatInt(r.Version, 10)] = r.ID
		}
	}
	for _, a := range acks {
		if got := stored[a.stream+"/"+strconv.FormatInt(a.version, 10)]; got != a.id {
			t.Fatalf("acknowledged %s version %d (%s) lost: stored %q", a.stream, a.version, a.id, got)
		}
	}
}

// checkProjection runs the projection on from its checkpoint and checks
// that it counted every stored event exactly once. It returns the
// checkpoint the killed child had left.
func checkProjection(t *testing.T, e *env) int64 {
	t.Helper()
	before := e.status(t, killProjection)
	if err := e.drain(t, killProjection); err != nil {
		t.Fatal(err)
	}
	view := e.view(t, killProjection)
	var total int64
	for s := range killStreams {
		stream := "k-" + strconv.Itoa(s)
		info, err := e.store.Stream(context.Background(), stream)
		if err != nil {
			t.Fatal(err)
		}
		if view[stream] != info.Version+1 {
			t.Fatalf("projection counts %d events of %s, the stream has %d (checkpoint was %d)", view[stream], stream, info.Version+1, before.Position)
		}
		total += view[stream]
	}
	if head, _ := e.store.Head(context.Background()); head != total {
		t.Fatalf("projection counted %d events, head is %d", total, head)
	}
	return before.Position
}

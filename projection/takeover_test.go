package projection_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/eventstore"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/projection"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// holdAt is a store whose ReadAll number at (from 1) waits for release:
// it holds a rebuild between two batches, outside any transaction.
type holdAt struct {
	eventstore.Store
	at      int64
	calls   atomic.Int64
	entered chan struct{}
	release chan struct{}
}

func newHoldAt(s eventstore.Store, at int64) *holdAt {
	return &holdAt{Store: s, at: at, entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdAt) ReadAll(ctx context.Context, after int64, max int) ([]eventstore.Recorded, error) {
	if h.calls.Add(1) == h.at {
		close(h.entered)
		<-h.release
	}
	return h.Store.ReadAll(ctx, after, max)
}

// g2Counter wraps a projection so that applied counts its handler's calls
// on the second generation's table only (the rebuild's, not the live one's).
func g2Counter(p projection.Projection, applied *atomic.Int64, delay time.Duration) projection.Projection {
	apply := p.Apply
	p.Apply = func(ctx context.Context, tx *sql.Tx, table string, r eventstore.Recorded) error {
		if strings.HasSuffix(table, "_g2") {
			applied.Add(1)
			if delay > 0 {
				time.Sleep(delay) // a slow handler, so the kill lands mid-rebuild
			}
		}
		return apply(ctx, tx, table, r)
	}
	return p
}

func TestRequestRebuild(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.register(t, e.counts("rq", nil))
		for i := range 20 {
			e.append(t, fmt.Sprintf("s-%d", i%2), "x")
		}
		if err := e.drain(t, "rq"); err != nil {
			t.Fatal(err)
		}
		if _, ran, err := e.runner.MaybeRebuild(ctx, e.schema+"rq"); ran || err != nil {
			t.Fatalf("MaybeRebuild with nothing due: ran %v, %v", ran, err)
		}
		// Another process (the CLI) files the request with a runner that
		// has no projection registered.
		cli, err := projection.New(ctx, e.db, e.d, e.store, projection.Config{Table: e.schema + "herald_projections"})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := cli.RequestRebuild(ctx, e.schema+"rq"); err != nil {
				t.Fatal(err)
			}
		}
		if err := cli.RequestRebuild(ctx, e.schema+"nope"); !errors.Is(err, projection.ErrUnknown) {
			t.Fatalf("request for an unknown projection: %v", err)
		}
		if s := e.status(t, "rq"); !s.RebuildRequested || s.Rebuilding {
			t.Fatalf("status after the request: %+v", s)
		}
		n, ran, err := e.runner.MaybeRebuild(ctx, e.schema+"rq")
		if err != nil || !ran || n != 20 {
			t.Fatalf("requested rebuild: ran %v, %d events, %v", ran, n, err)
		}
		s := e.status(t, "rq")
		if s.RebuildRequested || s.Rebuilding || !strings.HasSuffix(s.Table, "rq_g2") || s.Position != 20 {
			t.Fatalf("status after the requested rebuild: %+v", s)
		}
		if got := e.view(t, "rq"); got["s-0"] != 10 || got["s-1"] != 10 {
			t.Fatalf("view after the requested rebuild: %v", got)
		}
		if _, ran, _ := e.runner.MaybeRebuild(ctx, e.schema+"rq"); ran {
			t.Fatal("one request ran two rebuilds")
		}
	})
}

func TestRequestRebuildRunsUnderRun(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		e.newRunner(t, projection.Config{Batch: 7, RebuildBatch: 7, Poll: 10 * time.Millisecond})
		e.register(t, e.counts("rr", nil))
		e.append(t, "s", "x", "x", "x")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.runner.Run(ctx) }()
		if err := e.runner.RequestRebuild(ctx, e.schema+"rr"); err != nil {
			t.Fatal(err)
		}
		testenv.CheckFor(t, 10*time.Second, func() error {
			if s := e.status(t, "rr"); !strings.HasSuffix(s.Table, "_g2") || s.Rebuilding || s.Lag != 0 {
				return fmt.Errorf("not rebuilt yet: %+v", s)
			}
			return nil
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := e.view(t, "rr"); got["s"] != 3 {
			t.Fatalf("view %v", got)
		}
	})
}

// TestRebuildTakeover: runner A's rebuild stalls after its first batch;
// until its lease expires nobody else may rebuild; then runner B takes it
// over and resumes after A's batch; A, woken, finds its claim gone and
// neither commits nor drops B's table.
func TestRebuildTakeover(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const events, batch = 30, 7
		for i := range events {
			e.append(t, fmt.Sprintf("s-%d", i%3), "x")
		}
		cfg := projection.Config{Table: e.schema + "herald_projections", Batch: batch, RebuildBatch: batch, RebuildLease: 300 * time.Millisecond}
		hold := newHoldAt(e.store, 2) // the second batch's read
		a, err := projection.New(ctx, e.db, e.d, hold, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var appliedA, appliedB atomic.Int64
		if err := a.Register(ctx, g2Counter(e.counts("tk", nil), &appliedA, 0)); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := a.Rebuild(ctx, e.schema+"tk")
			done <- err
		}()
		<-hold.entered
		b := e.newRunner(t, projection.Config{Batch: batch, RebuildBatch: batch, RebuildLease: time.Minute})
		e.register(t, g2Counter(e.counts("tk", nil), &appliedB, 0))
		if _, err := b.Rebuild(ctx, e.schema+"tk"); !errors.Is(err, projection.ErrRebuilding) {
			t.Fatalf("a second rebuild while A's lease holds: %v", err)
		}
		if err := b.RequestRebuild(ctx, e.schema+"tk"); !errors.Is(err, projection.ErrRebuilding) {
			t.Fatalf("a rebuild request while A's lease holds: %v", err)
		}
		var n int64
		testenv.CheckFor(t, 10*time.Second, func() error {
			var ran bool
			var err error
			if n, ran, err = b.MaybeRebuild(ctx, e.schema+"tk"); err != nil {
				t.Fatal(err)
			} else if !ran {
				return errors.New("A's lease has not expired yet")
			}
			return nil
		})
		if n != events-batch || appliedB.Load() != events-batch {
			t.Fatalf("B replayed %d events (handler %d), want the %d after A's first batch", n, appliedB.Load(), events-batch)
		}
		close(hold.release)
		if err := <-done; !errors.Is(err, projection.ErrRebuilding) {
			t.Fatalf("A after the takeover: %v, want ErrRebuilding", err)
		}
		s := e.status(t, "tk")
		if s.Rebuilding || !strings.HasSuffix(s.Table, "tk_g2") || s.Position != events {
			t.Fatalf("status after the takeover: %+v", s)
		}
		if got := e.view(t, "tk"); got["s-0"] != 10 || got["s-1"] != 10 || got["s-2"] != 10 {
			t.Fatalf("view after the takeover: %v", got)
		}
	})
}

// The rebuild kill test: a child process (this test binary, re-executed
// with rebuildChildEnv set) rebuilds a projection with a slow handler; the
// parent SIGKILLs it mid-way, checks that its claim still refuses other
// rebuilds, then runs a runner that takes the rebuild over once the lease
// has expired and resumes it after the child's last committed batch.
const (
	rebuildChildEnv   = "HERALD_PROJ_REBUILD_CHILD"
	rebuildEvents     = 200
	rebuildBatch      = 10
	rebuildChildLease = 2 * time.Second
)

func TestKillDuringRebuild(t *testing.T) {
	if spec := os.Getenv(rebuildChildEnv); spec != "" {
		rebuildChild(t, spec)
		return
	}
	t.Run("sqlite", func(t *testing.T) { killRebuild(t, "sqlite:"+t.TempDir()+"/rb.db") })
	t.Run("postgres", func(t *testing.T) {
		db, err := sql.Open("pgx", pubsubtest.PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		schema := pubsubtest.UniqueName("rbkill")
		if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
				t.Errorf("drop schema: %v", err)
			}
		}()
		killRebuild(t, "postgres:"+schema)
	})
}

func rebuildChild(t *testing.T, spec string) {
	e, err := openSpec(t, spec, projection.Config{Batch: rebuildBatch, RebuildBatch: rebuildBatch, RebuildLease: rebuildChildLease})
	if err == nil {
		var applied atomic.Int64
		err = e.runner.Register(context.Background(), g2Counter(e.counts("kr", nil), &applied, 5*time.Millisecond))
	}
	if err == nil {
		_, err = e.runner.Rebuild(context.Background(), e.schema+"kr")
	}
	fmt.Println("ERR the child's rebuild ended before its kill:", err)
	os.Exit(2)
}

func killRebuild(t *testing.T, spec string) {
	ctx := context.Background()
	e, err := openSpec(t, spec, projection.Config{Batch: rebuildBatch, RebuildBatch: rebuildBatch, Poll: 20 * time.Millisecond, RebuildLease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer e.db.Close()
	var applied atomic.Int64
	e.register(t, g2Counter(e.counts("kr", nil), &applied, 0))
	for i := range rebuildEvents {
		e.append(t, fmt.Sprintf("s-%d", i%4), "x")
	}
	if err := e.drain(t, "kr"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringRebuild$", "-test.count=1")
	cmd.Env = append(os.Environ(), rebuildChildEnv+"="+spec)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	kill := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
		})
	}
	defer kill()
	testenv.CheckFor(t, 20*time.Second, func() error {
		if s := e.status(t, "kr"); s.RebuildPosition < 3*rebuildBatch {
			return fmt.Errorf("the child's rebuild is at %d", s.RebuildPosition)
		}
		return nil
	})
	kill()
	killed := e.status(t, "kr")
	if !killed.Rebuilding || killed.RebuildPosition >= rebuildEvents {
		t.Fatalf("status after the kill: %+v, want a rebuild under way", killed)
	}
	if _, err := e.runner.Rebuild(ctx, e.schema+"kr"); !errors.Is(err, projection.ErrRebuilding) {
		t.Fatalf("rebuild while the dead child's lease holds: %v", err)
	}
	// A runner's Run takes the rebuild over once the lease has expired.
	e.newRunner(t, projection.Config{Batch: rebuildBatch, RebuildBatch: rebuildBatch, Poll: 20 * time.Millisecond})
	e.register(t, g2Counter(e.counts("kr", nil), &applied, 0))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.runner.Run(runCtx) }()
	testenv.CheckFor(t, 30*time.Second, func() error {
		if s := e.status(t, "kr"); s.Rebuilding || !strings.HasSuffix(s.Table, "kr_g2") {
			return fmt.Errorf("not taken over yet: %+v", s)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := applied.Load(), rebuildEvents-killed.RebuildPosition; got != want {
		t.Fatalf("the takeover applied %d events, want the %d after the child's last batch", got, want)
	}
	view := e.view(t, "kr")
	for i := range 4 {
		if got := view[fmt.Sprintf("s-%d", i)]; got != rebuildEvents/4 {
			t.Fatalf("view after the takeover: %v", view)
		}
	}
}

// TestCheckpointTableUpgrade: a checkpoint table made before the rebuild
// lease and request columns gets them from New, and keeps its rows.
func TestCheckpointTableUpgrade(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		table := e.schema + "old_projections"
		if _, err := e.db.Exec(`CREATE TABLE ` + table + ` (name TEXT PRIMARY KEY, position BIGINT NOT NULL,
			generation BIGINT NOT NULL, stopped INT NOT NULL, error TEXT NOT NULL, error_position BIGINT NOT NULL,
			rebuild_token TEXT NOT NULL, rebuild_position BIGINT NOT NULL, skipped BIGINT NOT NULL,
			updated_at BIGINT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.Exec(`INSERT INTO ` + table + ` VALUES ('legacy', 4, 1, 0, '', 0, '', 0, 0, 0)`); err != nil {
			t.Fatal(err)
		}
		for i := range 2 { // the second New finds the columns there, and the first's request
			r, err := projection.New(context.Background(), e.db, e.d, e.store, projection.Config{Table: table})
			if err != nil {
				t.Fatal(err)
			}
			st, err := r.Status(context.Background())
			if err != nil || len(st) != 1 || st[0].Position != 4 || st[0].RebuildRequested != (i == 1) {
				t.Fatalf("status after the upgrade: %+v, %v", st, err)
			}
			if err := r.RequestRebuild(context.Background(), "legacy"); err != nil {
				t.Fatal(err)
			}
		}
	})
}

package txn_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// worker is one consume-transform-produce process of the pipeline.
type worker struct {
	sess   *kgo.GroupTransactSession
	kill   chan struct{} // closed to kill the worker mid-transaction
	done   chan struct{}
	failed atomic.Bool // the worker stopped on an error; replace it
}

func startWorker(t *testing.T, addr, txnID string, commits *atomic.Int64) *worker {
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(addr),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(4*time.Second),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumerGroup("pipeline"),
		kgo.ConsumeTopics("in"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6*time.Second),
		kgo.RebalanceTimeout(10*time.Second),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
	)
	if err != nil {
		t.Fatal(err)
	}
	w := &worker{sess: sess, kill: make(chan struct{}), done: make(chan struct{})}
	go w.run(t, commits)
	return w
}

func (w *worker) run(t *testing.T, commits *atomic.Int64) {
	defer close(w.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.kill:
			cancel()
		case <-w.done:
		}
	}()
	for ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := w.sess.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			return
		}
		if fs.NumRecords() == 0 {
			continue
		}
		if err := w.sess.Begin(); err != nil {
			t.Logf("begin: %v", err)
			w.failed.Store(true)
			return
		}
		fs.EachRecord(func(r *kgo.Record) {
			out := &kgo.Record{Topic: "out", Key: r.Key, Value: fmt.Appendf(nil, "T(%s)", r.Value)}
			w.sess.Produce(ctx, out, nil)
		})
		if ctx.Err() != nil {
			return // killed mid-transaction: the transaction stays open
		}
		committed, err := w.sess.End(ctx, kgo.TryCommit)
		if committed {
			commits.Add(1)
		}
		if err != nil {
			// franz-go: no error End returns is retryable and the
			// session should not go on (e.g. a broker restart that
			// outlasted the client's retries). As an application
			// would, the worker stops and is replaced.
			t.Logf("end: %v; the worker is replaced", err)
			w.failed.Store(true)
			return
		}
	}
}

// stop kills the worker: its loop stops where it is, possibly with a
// transaction open, and its client is closed without ending it.
func (w *worker) stop() {
	close(w.kill)
	<-w.done
	w.sess.Client().Close()
}

// TestGroupTransactSession runs franz-go's consume-transform-produce
// pipeline while the broker restarts and workers are killed and
// replaced; read_committed output holds each input's transform once.
func TestGroupTransactSession(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	b := newBroker(t)
	createTopic(t, b, "in", 4)
	createTopic(t, b, "out", 4)
	const n = 3000
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var commits atomic.Int64
	var mu sync.Mutex
	workers := map[int]*worker{}
	gen := map[int]int{}
	start := func(i int) {
		mu.Lock()
		defer mu.Unlock()
		// Alternate: the same transactional id (the replacement fences
		// the killed worker) or a new one (its transaction times out).
		gen[i]++
		id := fmt.Sprintf("worker-%d", i)
		if gen[i]%2 == 0 {
			id = fmt.Sprintf("worker-%d-gen-%d", i, gen[i])
		}
		workers[i] = startWorker(t, b.Addr(), id, &commits)
	}
	for i := range 3 {
		start(i)
	}
	defer func() {
		for _, w := range workers {
			w.stop()
		}
	}()

	// Produce the input while the chaos runs.
	prod := newClient(t, b, kgo.DefaultProduceTopic("in"))
	go func() {
		for i := range n {
			prod.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%31), Value: fmt.Appendf(nil, "v%d", i)}, nil)
			if i%100 == 0 {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()

	// replaceFailed replaces the workers that stopped on an error, as a
	// supervisor restarts a crashed process.
	replaceFailed := func() {
		for i := range 3 {
			mu.Lock()
			w := workers[i]
			mu.Unlock()
			select {
			case <-w.done:
				if w.failed.Load() {
					w.stop()
					start(i)
				}
			default:
			}
		}
	}

	rnd := rand.New(rand.NewPCG(1, 2))
	for round := range 6 {
		replaceFailed()
		time.Sleep(time.Duration(400+rnd.IntN(600)) * time.Millisecond)
		if round%2 == 0 {
			t.Logf("round %d: restarting the broker", round)
			b.Restart()
			continue
		}
		i := rnd.IntN(3)
		t.Logf("round %d: killing worker %d", round, i)
		mu.Lock()
		w := workers[i]
		mu.Unlock()
		w.stop()
		start(i)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Wait for the pipeline to drain: every input transformed once.
	var got map[string]int
	pollUntil(ctx, time.Hour, 2*time.Second, func() bool {
		got = values(readAll(t, b, "out", true))
		if len(got) == n {
			return true
		}
		t.Logf("output holds %d of %d transforms; waiting", len(got), n)
		replaceFailed()
		return false
	})
	missing := 0
	for i := range n {
		if got[fmt.Sprintf("T(v%d)", i)] == 0 {
			missing++
		}
	}
	if d := dups(got); len(d) > 0 || missing > 0 {
		t.Fatalf("%d transforms missing, %d duplicated (e.g. %v); %d commits", missing, len(d), d[:min(len(d), 5)], commits.Load())
	}
	all := readAll(t, b, "out", false)
	t.Logf("%d inputs transformed exactly once in %d transactions; read_uncommitted sees %d records (aborted included)",
		n, commits.Load(), len(all))
}

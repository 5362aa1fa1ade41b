package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	_ "modernc.org/sqlite"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/postgres"
	"github.com/heraldhq/herald/outbox/sqlite"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

type backend struct {
	db    *sql.DB
	store outbox.Store
	// crashReleases: a dead relay's claim ends with its connection
	// (PostgreSQL), not with a lease (SQLite).
	crashReleases bool
}

const shortLease = 300 * time.Millisecond

// backends are the stores under test. lease is the SQLite claim lease:
// short where a test waits for a dead relay's claim to run out, long where
// a slow round (the race detector, lock contention) must not lose its
// claim to another relay, which would publish the rows again.
func backends(lease time.Duration) map[string]func(t *testing.T) backend {
	return map[string]func(t *testing.T) backend{
		"sqlite": func(t *testing.T) backend {
			db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "o.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			s, err := sqlite.New(context.Background(), db, sqlite.Config{Lease: lease})
			if err != nil {
				t.Fatal(err)
			}
			return backend{db: db, store: s}
		},
		"postgres": func(t *testing.T) backend {
			db, err := sql.Open("pgx", pubsubtest.PostgresDSN(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			table := pubsubtest.UniqueName("outbox")
			s, err := postgres.New(context.Background(), db, postgres.Config{Table: table})
			if err != nil {
				t.Fatalf("postgres (run scripts/ensure-postgres.sh as root): %v", err)
			}
			t.Cleanup(func() { db.Exec("DROP TABLE " + table) })
			return backend{db: db, store: s, crashReleases: true}
		},
	}
}

// write adds events for keys k0..k(keys-1), n per key, in one transaction
// per round, and returns them.
func write(t *testing.T, be backend, topic string, keys, n int) []event.Event {
	t.Helper()
	ctx := context.Background()
	var all []event.Event
	for i := range n {
		tx, err := be.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var evs []event.Event
		for k := range keys {
			e := event.New("/outbox", "test", []byte(strconv.Itoa(i)))
			e.Key = fmt.Sprint("k", k)
			evs = append(evs, e)
		}
		if err := outbox.Write(ctx, tx, be.store, topic, evs...); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
	}
	return all
}

func newRelay(t *testing.T, s outbox.Store, cl *kgo.Client, id string) *outbox.Relay {
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	r, err := outbox.NewRelay(s, cl, outbox.RelayConfig{
		ID: id, BatchSize: 7, PollInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(w, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// consume reads topic until want distinct event ids were seen, then a
// little longer for duplicates; it returns the count per id and each key's
// sequence of data.
func consume(t *testing.T, b *pubsubtest.Broker, topic string, want int) (map[string]int, map[string][]int) {
	t.Helper()
	cl := b.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	counts, order := map[string]int{}, map[string][]int{}
	// A record is counted once per position: a consumer may read a
	// position twice when leadership moves (kgo reloads the partition),
	// which is not a second publication.
	seen := map[[2]int64]bool{}
	deadline := time.Now().Add(20 * time.Second)
	var quietUntil time.Time
	for time.Now().Before(deadline) && (len(counts) < want || time.Now().Before(quietUntil)) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			pos := [2]int64{int64(r.Partition), r.Offset}
			if seen[pos] {
				return
			}
			seen[pos] = true
			e, err := event.FromRecord(r)
			if err != nil {
				t.Fatal(err)
			}
			counts[e.ID]++
			n, _ := strconv.Atoi(string(e.Data))
			order[e.Key] = append(order[e.Key], n)
		})
		if len(counts) >= want && quietUntil.IsZero() {
			quietUntil = time.Now().Add(300 * time.Millisecond)
		}
	}
	if len(counts) < want {
		t.Fatalf("saw %d of %d events", len(counts), want)
	}
	return counts, order
}

func checkInOrder(t *testing.T, order map[string][]int) {
	t.Helper()
	for k, ns := range order {
		for i := 1; i < len(ns); i++ {
			// A re-publish after a crash may repeat a run, never go back
			// within one publication.
			if ns[i] < ns[i-1] && ns[i] != 0 && !isRepeat(ns, i) {
				t.Fatalf("key %s out of order: %v", k, ns)
			}
		}
	}
}

// isRepeat reports whether ns[i:] starts a repeat of values already seen.
func isRepeat(ns []int, i int) bool {
	for _, n := range ns[:i] {
		if n == ns[i] {
			return true
		}
	}
	return false
}

func runUntilEmpty(t *testing.T, r *outbox.Relay) {
	t.Helper()
	for range 1000 {
		n, err := r.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("relay never drained the outbox")
}

func TestRelayPublishesInOrder(t *testing.T) {
	for name, mk := range backends(time.Minute) {
		t.Run(name, func(t *testing.T) {
			be := mk(t)
			b := pubsubtest.New(t)
			topic := b.Topic("outbox", 3)
			evs := write(t, be, topic, 4, 15)
			// A rolled-back transaction publishes nothing.
			tx, _ := be.db.BeginTx(context.Background(), nil)
			ghost := event.New("/outbox", "ghost", nil)
			if err := outbox.Write(context.Background(), tx, be.store, topic, ghost); err != nil {
				t.Fatal(err)
			}
			_ = tx.Rollback()

			runUntilEmpty(t, newRelay(t, be.store, b.Client(), "r1"))
			counts, order := consume(t, b, topic, len(evs))
			for _, e := range evs {
				if counts[e.ID] != 1 {
					t.Fatalf("event %s published %d times", e.ID, counts[e.ID])
				}
			}
			if counts[ghost.ID] != 0 || len(counts) != len(evs) {
				t.Fatalf("published %d events, want %d (rolled-back event: %d)", len(counts), len(evs), counts[ghost.ID])
			}
			for k, ns := range order {
				for i, n := range ns {
					if n != i {
						t.Fatalf("key %s: %v", k, ns)
					}
				}
			}
		})
	}
}

// killed is a store whose batches die after publishing, before marking.
type killed struct {
	outbox.Store
	release bool
}

type killedBatch struct {
	outbox.Batch
	release bool
}

func (k killed) Claim(ctx context.Context, relay string, n int) (outbox.Batch, error) {
	b, err := k.Store.Claim(ctx, relay, n)
	return killedBatch{b, k.release}, err
}

func (b killedBatch) Done(ctx context.Context, _ []int64) error {
	if b.release {
		_ = b.Batch.Release(ctx) // the dead relay's connection closes
	}
	panic("relay killed between publish and mark")
}

// TestRelayKilledBetweenPublishAndMark: the first relay publishes a batch
// and dies before marking it; a new relay publishes everything, so every
// event is seen at least once, in order per key.
func TestRelayKilledBetweenPublishAndMark(t *testing.T) {
	for name, mk := range backends(shortLease) {
		t.Run(name, func(t *testing.T) {
			be := mk(t)
			b := pubsubtest.New(t)
			topic := b.Topic("killed", 2)
			evs := write(t, be, topic, 3, 6)
			dead := newRelay(t, killed{be.store, be.crashReleases}, b.Client(), "dead")
			func() {
				defer func() {
					if recover() == nil {
						t.Fatal("the relay was not killed")
					}
				}()
				_, _ = dead.RunOnce(context.Background())
			}()
			// A cancelled context right after the publish does not lose the
			// batch either: its rows stay for the next round.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := newRelay(t, be.store, b.Client(), "cancelled").RunOnce(ctx); err == nil {
				t.Log("cancelled round published nothing and reported no error")
			}
			time.Sleep(shortLease + 50*time.Millisecond) // the SQLite lease runs out
			runUntilEmpty(t, newRelay(t, be.store, b.Client(), "heir"))
			counts, order := consume(t, b, topic, len(evs))
			dups := 0
			for _, e := range evs {
				switch c := counts[e.ID]; {
				case c == 0:
					t.Fatalf("event %s lost", e.ID)
				case c > 1:
					dups++
				}
			}
			if dups == 0 {
				t.Fatal("the killed relay's batch was not re-published (was it published at all?)")
			}
			checkInOrder(t, order)
		})
	}
}

// TestRelaysRace: several relays on one table publish each row once, in
// order per key.
func TestRelaysRace(t *testing.T) {
	for name, mk := range backends(time.Minute) {
		t.Run(name, func(t *testing.T) {
			be := mk(t)
			b := pubsubtest.New(t)
			topic := b.Topic("race", 4)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for i := range 4 {
				r := newRelay(t, be.store, b.Client(), fmt.Sprint("relay-", i))
				wg.Add(1)
				go func() { defer wg.Done(); _ = r.Run(ctx) }()
			}
			evs := write(t, be, topic, 8, 20) // written while the relays run
			counts, order := consume(t, b, topic, len(evs))
			cancel()
			wg.Wait()
			for _, e := range evs {
				if counts[e.ID] != 1 {
					t.Fatalf("event %s published %d times", e.ID, counts[e.ID])
				}
			}
			for k, ns := range order {
				for i, n := range ns {
					if n != i {
						t.Fatalf("key %s: %v", k, ns)
					}
				}
			}
		})
	}
}

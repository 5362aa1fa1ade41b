package txn_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/testenv"
)

func produceTxn(t *testing.T, cl *kgo.Client, topic, tag string, n int, commit bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: fmt.Appendf(nil, "%s-%d", tag, i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

// TestCommitAbort: committed transactions are visible to read_committed,
// aborted ones only to read_uncommitted; an open transaction holds the
// last stable offset back and shows in Describe/ListTransactions.
func TestCommitAbort(t *testing.T) {
	b := newBroker(t)
	createTopic(t, b, "tx", 2)
	cl := newClient(t, b, kgo.TransactionalID("t1"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceTxn(t, cl, "tx", "c1", 10, true)
	produceTxn(t, cl, "tx", "a1", 10, false)
	produceTxn(t, cl, "tx", "c2", 6, true)

	committed := values(readAll(t, b, "tx", true))
	all := values(readAll(t, b, "tx", false))
	if len(committed) != 16 || len(all) != 26 {
		t.Fatalf("read_committed saw %d, read_uncommitted %d; want 16 and 26", len(committed), len(all))
	}
	for v := range committed {
		if v[0] == 'a' {
			t.Fatalf("read_committed saw aborted record %s", v)
		}
	}

	// An open transaction: the LSO stays at its first offset.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "tx", Partition: 0, Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(newClient(t, b))
	ends, err := adm.ListEndOffsets(ctx, "tx")
	if err != nil {
		t.Fatal(err)
	}
	stable, err := adm.ListCommittedOffsets(ctx, "tx")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := ends.Lookup("tx", 0)
	s, _ := stable.Lookup("tx", 0)
	if s.Offset != e.Offset-1 {
		t.Fatalf("partition 0: LSO %d, HW %d; want LSO = HW-1 while the transaction is open", s.Offset, e.Offset)
	}
	dt, err := adm.DescribeTransactions(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := dt["t1"]; !ok || d.State != "Ongoing" || len(d.Topics) != 1 {
		t.Fatalf("describe: %+v", dt)
	}
	lt, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil || len(lt) != 1 {
		t.Fatalf("list ongoing: %v %+v", err, lt)
	}
	// Restart with the transaction open: it is still open after, and
	// its commit completes.
	b.Restart()
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if got := values(readAll(t, b, "tx", true)); got["open"] != 1 || len(got) != 17 {
		t.Fatalf("after commit across a restart: %d records, open=%d", len(got), got["open"])
	}
}

// TestFenced: a second producer with the same transactional id fences the
// first; the first's open transaction is aborted and its next call fails
// with a fatal fencing error.
func TestFenced(t *testing.T) {
	b := newBroker(t)
	createTopic(t, b, "fence", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	old := newClient(t, b, kgo.TransactionalID("f"), kgo.DefaultProduceTopic("fence"))
	if err := old.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := old.ProduceSync(ctx, kgo.StringRecord("zombie")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fresh := newClient(t, b, kgo.TransactionalID("f"), kgo.DefaultProduceTopic("fence"))
	produceTxn(t, fresh, "fence", "fresh", 2, true)

	err := old.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("fenced producer's commit: %v, want PRODUCER_FENCED", err)
	}
	t.Logf("fenced producer: %v", err)
	got := values(readAll(t, b, "fence", true))
	if got["zombie"] != 0 || len(got) != 2 {
		t.Fatalf("read_committed: %v", got)
	}
}

// TestTimeout: a transaction left open past its timeout is aborted, and
// the last stable offset moves past it.
func TestTimeout(t *testing.T) {
	b := newBroker(t)
	createTopic(t, b, "slow", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := newClient(t, b, kgo.TransactionalID("slow"), kgo.DefaultProduceTopic("slow"), kgo.TransactionTimeout(time.Second))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("late")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(newClient(t, b))
	testenv.CheckFor(t, 20*time.Second, func() error {
		st, err := adm.ListCommittedOffsets(ctx, "slow")
		if err != nil {
			return err
		}
		if o, _ := st.Lookup("slow", 0); o.Offset != 2 { // record + abort marker
			return fmt.Errorf("transaction was not aborted on its timeout: last stable offset %d, want 2", o.Offset)
		}
		return nil
	})
	if got := readAll(t, b, "slow", true); len(got) != 0 {
		t.Fatalf("read_committed saw %d records of a timed-out transaction", len(got))
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("commit after the timeout abort succeeded")
	}
}

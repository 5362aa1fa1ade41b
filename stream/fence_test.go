package stream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/stream"
)

// TestExactlyOnceSurvivesFencing: another producer takes the App's
// transactional id (a new epoch fences the App's producer, as a timed-out
// transaction or a moved coordinator does); the App runs on with a new
// epoch instead of stopping, and its read_committed output stays 1..n
// once per key.
func TestExactlyOnceSurvivesFencing(t *testing.T) {
	b := newBroker(t, "in", "out")
	out := collect(t, b.Addr(), "out")
	r := start(t, eosTopology(), stream.Config{AppID: "fence", Brokers: []string{b.Addr()}, StateDir: t.TempDir(),
		InstanceID: "i0", Guarantee: stream.ExactlyOnce, CommitInterval: 100 * time.Millisecond})
	want := map[string]int{}
	total := 0
	batch := func(n int) {
		recs := make([]*kgo.Record, 0, n)
		for i := range n {
			k := fmt.Sprint("k", i%5)
			want[k]++
			recs = append(recs, rec(k, "x"))
		}
		produce(t, b.Addr(), "in", recs...)
		total += n
		testenv.CheckFor(t, 60*time.Second, func() error {
			select {
			case err := <-r.done:
				t.Fatalf("Run returned: %v", err)
			default:
			}
			if got := len(out.all()); got != total {
				return fmt.Errorf("%d outputs, want %d", got, total)
			}
			return nil
		})
	}
	batch(50)

	// The fencing producer: same transactional id, a transaction begun
	// and aborted (its InitProducerID bumps the epoch).
	fencer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.TransactionalID("fence-i0"), kgo.DefaultProduceTopic("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer fencer.Close()
	ctx := context.Background()
	if err := fencer.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := fencer.ProduceSync(ctx, &kgo.Record{Key: []byte("fencer"), Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := fencer.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}

	batch(50)
	batch(50)
	checkCounts(t, out, want)
}

package txn_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/heraldtestutil"
	"github.com/heraldhq/herald/internal/server"
)

func newBroker(t testing.TB, opts ...heraldtest.Option) *heraldtest.Broker {
	opts = append([]heraldtest.Option{heraldtestutil.WithConfig(func(c *server.Config) {
		c.Txn.AbortCheck = 200 * time.Millisecond
	})}, opts...)
	return heraldtest.NewBroker(t, opts...)
}

func newClient(t testing.TB, b *heraldtest.Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t testing.TB, b *heraldtest.Broker, name string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, b))
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, name); err != nil {
		t.Fatal(err)
	}
}

// readAll reads topic from the start to its end offsets (as the isolation
// level sees them) and returns the records.
func readAll(t testing.TB, b *heraldtest.Broker, topic string, committed bool) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	adm := kadm.NewClient(newClient(t, b))
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if committed {
		ends0 := ends
		// EndTxn answers before the markers are durable: give the last
		// stable offsets a moment to reach the ends (they stay below
		// while some transaction is open).
		// A transaction that stays open (a killed worker's) keeps them
		// below: after 3s the read stops at the last stable offsets.
		pollUntil(ctx, 3*time.Second, 20*time.Millisecond, func() bool {
			stable, err := adm.ListCommittedOffsets(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			ends = stable
			same := true
			stable.Each(func(o kadm.ListedOffset) {
				if e, _ := ends0.Lookup(o.Topic, o.Partition); e.Offset != o.Offset {
					same = false
				}
			})
			return same
		})
	}
	cl := newClient(t, b, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso),
		kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	done := func(pos map[int32]int64) bool {
		ok := true
		ends.Each(func(o kadm.ListedOffset) {
			if pos[o.Partition] < o.Offset {
				ok = false
			}
		})
		return ok
	}
	pos := map[int32]int64{}
	var out []*kgo.Record
	// A partition whose tail is markers and aborted data returns no
	// records to read_committed, so the positions may not reach the end:
	// a few empty polls also end the read (the data is all there).
	for empty := 0; !done(pos) && empty < 3; {
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pctx)
		pcancel()
		if fs.NumRecords() == 0 {
			empty++
		}
		if ctx.Err() != nil {
			t.Fatalf("read %s: %d records, positions %v, want %v", topic, len(out), pos, ends)
		}
		fs.EachError(func(tp string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("fetch %s[%d]: %v", tp, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, r)
		})
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			// Markers and aborted batches advance the position too.
			if p.HighWatermark >= 0 {
				if committed {
					pos[p.Partition] = max(pos[p.Partition], p.LastStableOffset)
				} else {
					pos[p.Partition] = max(pos[p.Partition], p.HighWatermark)
				}
			}
			for _, r := range p.Records {
				pos[p.Partition] = max(pos[p.Partition], r.Offset+1)
			}
		})
	}
	return out
}

// pollUntil calls cond every interval until it is true (true), or until
// timeout passes or ctx ends (false).
func pollUntil(ctx context.Context, timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
	return true
}

func values(rs []*kgo.Record) map[string]int {
	m := map[string]int{}
	for _, r := range rs {
		m[string(r.Value)]++
	}
	return m
}

func dups(m map[string]int) []string {
	var out []string
	for k, n := range m {
		if n > 1 {
			out = append(out, fmt.Sprintf("%s x%d", k, n))
		}
	}
	return out
}

package pubsub_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/pubsub"
	"github.com/heraldhq/herald/pubsub/pubsubtest"
)

// TestDispatchMarkAheadOfHandlers: the dispatch mark is committed in the
// background, ahead of the records, and no record reaches a handler
// before a committed mark covers it, though the commit interval is far
// longer than the run (so the marks are committed on request, and the
// batches that outrun them are held, then released in order). Each key's
// records are still handled in order.
func TestDispatchMarkAheadOfHandlers(t *testing.T) {
	const partitions, records, keys = 2, 3000, 50
	b := pubsubtest.New(t)
	topic := b.Topic("mark", partitions)
	prod := b.Client()
	for i := range records {
		prod.Produce(context.Background(), &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%keys),
			Value: strconv.AppendInt(nil, int64(i), 10)}, nil)
	}
	if err := prod.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	group := pubsubtest.Group("mark")
	cfg := testConfig(b, group)
	cfg.CommitInterval = time.Hour
	cfg.PollRecords = 64
	r := newRouter(t, cfg)
	adm := kadm.NewClient(b.Client())
	var (
		mu      sync.Mutex
		lastVal = map[string]int{} // by key
		n       atomic.Int64
		done    = make(chan struct{})
	)
	if err := r.Handle(topic, func(ctx context.Context, m *pubsub.Message) error {
		v, err := strconv.Atoi(string(m.Record.Value))
		if err != nil {
			return pubsub.Permanent(err)
		}
		// What the router knows committed (its acknowledged commits),
		// for every record; the broker's committed record for some.
		if mark := pubsub.CommittedMark(r, topic, m.Record.Partition); mark < m.Record.Offset {
			t.Errorf("partition %d offset %d handled with the mark committed at %d", m.Record.Partition, m.Record.Offset, mark)
		}
		if v%10 == 0 {
			if mark, err := committedMark(ctx, adm, group, topic, m.Record.Partition); err != nil {
				t.Errorf("reading the committed mark: %v", err)
			} else if mark < m.Record.Offset {
				t.Errorf("partition %d offset %d handled with the committed mark at %d", m.Record.Partition, m.Record.Offset, mark)
			}
		}
		mu.Lock()
		if last, ok := lastVal[m.Event.Key]; ok && last >= v {
			t.Errorf("key %s: %d handled after %d", m.Event.Key, v, last)
		}
		lastVal[m.Event.Key] = v
		mu.Unlock()
		if n.Add(1) == records {
			close(done)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%d of %d records handled", n.Load(), records)
	}
}

// committedMark returns the dispatch mark in the attempt record committed
// for the partition (see attempts.go), or -1 if none.
func committedMark(ctx context.Context, adm *kadm.Client, group, topic string, p int32) (int64, error) {
	resps, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		return 0, err
	}
	o, ok := resps.Lookup(topic, p)
	if !ok {
		return -1, nil
	}
	for _, f := range strings.Fields(o.Metadata) {
		if v, ok := strings.CutPrefix(f, "h="); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return -1, nil
}

package pubsub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestLeadKeepsKeyOrder drives a partition's lead through all its modes
// (inline, forwarding, a takeover of a blocked call) with a handler whose
// speed changes by phase, and failures that park keys at the lead and at
// the workers; at every call it checks that the key's earlier records were
// all handled, and at the end that every record was handled once.
func TestLeadKeepsKeyOrder(t *testing.T) {
	const batches, perBatch, keys = 24, 200, 37
	r, err := NewRouter(RouterConfig{Brokers: []string{"x"}, Group: "g", MaxPending: 1 << 30, MaxAttempts: 1000,
		Backoff: Backoff{Initial: time.Millisecond, Max: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	var all [][]*kgo.Record
	offsets := map[string][]int64{} // by key, ascending
	for bi := range batches {
		var recs []*kgo.Record
		for i := range perBatch {
			off := int64(bi*perBatch + i)
			key := fmt.Sprintf("k%d", (off*7)%keys)
			recs = append(recs, &kgo.Record{Key: []byte(key), Offset: off})
			offsets[key] = append(offsets[key], off)
		}
		all = append(all, recs)
	}
	var mu sync.Mutex
	done := map[string]int{}       // by key: records handled, in order
	handled := map[int64]int{}     // by offset: successful calls
	failedOnce := map[int64]bool{} // records that failed their first call
	var errs []error
	var total atomic.Int64
	finished := make(chan struct{})
	var p *partition
	handler := func(_ context.Context, m *Message) error {
		off, key := m.Record.Offset, string(m.Record.Key)
		mu.Lock()
		if want := offsets[key][done[key]]; want != off {
			errs = append(errs, fmt.Errorf("key %s: offset %d called before %d was handled", key, off, want))
		}
		fail := off%53 == 0 && !failedOnce[off]
		failedOnce[off] = failedOnce[off] || fail
		mu.Unlock()
		// By phase: batches 0-5 fast (inline), 6-11 slow (forwarding),
		// 12-17 fast again, 18-23 fast with a few calls that block
		// past stuckAfter (takeovers).
		switch phase := off / (6 * perBatch); {
		case phase == 1:
			time.Sleep(2 * p.inlineMax)
		case phase == 3 && off%97 == 0:
			time.Sleep(3 * stuckAfter)
		}
		if fail {
			return errors.New("first attempt fails")
		}
		mu.Lock()
		done[key]++
		handled[off]++
		mu.Unlock()
		if total.Add(1) == batches*perBatch {
			close(finished)
		}
		return nil
	}
	p = newPartition(r, topicPartition{"t", 0}, handler, attemptRecord{mark: -1}, -1)
	defer func() { p.stop(); p.wg.Wait() }()
	// Handlers under 1ms are fast, so that the test's own are.
	p.inlineMax = time.Millisecond
	// A batch at a time, as a consumer that keeps up gets them, so that
	// the lead sees the workers' times between batches.
	deadline := time.Now().Add(60 * time.Second)
	for bi, recs := range all {
		p.dispatch(recs, 0)
		for total.Load() < int64((bi+1)*perBatch) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d records handled", total.Load(), batches*perBatch)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	<-finished
	mu.Lock()
	defer mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for off := range int64(batches * perBatch) {
		if handled[off] != 1 {
			t.Fatalf("offset %d handled %d times", off, handled[off])
		}
	}
	// The last chunks report their records handled after the calls.
	for {
		p.mu.Lock()
		p.advanceLocked()
		next, pending := p.mu.next.Offset, p.mu.pending
		p.mu.Unlock()
		if next == batches*perBatch && pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("commit offset %d, pending %d; want %d, 0", next, pending, batches*perBatch)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLeadTakesOverBlockedCall: while the lead is blocked in one key's
// handler, the partition's other keys are handled, and the blocked key's
// later records wait for it.
func TestLeadTakesOverBlockedCall(t *testing.T) {
	r, err := NewRouter(RouterConfig{Brokers: []string{"x"}, Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var mu sync.Mutex
	var order []string
	handler := func(_ context.Context, m *Message) error {
		id := fmt.Sprintf("%s%d", m.Record.Key, m.Record.Offset)
		if id == "a0" {
			<-release
		}
		mu.Lock()
		order = append(order, id)
		mu.Unlock()
		return nil
	}
	p := newPartition(r, topicPartition{"t", 0}, handler, attemptRecord{mark: -1}, -1)
	defer func() { p.stop(); p.wg.Wait() }()
	var recs []*kgo.Record
	for i, k := range []string{"a", "b", "a", "c", "b"} {
		recs = append(recs, &kgo.Record{Key: []byte(k), Offset: int64(i)})
	}
	p.dispatch(recs, 0)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(order)
		mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handled %d of the 3 records not behind a0", n)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	for {
		mu.Lock()
		n := len(order)
		got := fmt.Sprint(order)
		mu.Unlock()
		if n == 5 {
			// a0 and a2 last, in order; b1 before b4; c3 anywhere
			// before a0.
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(order[3:]) != "[a0 a2]" || slices.Index(order, "b1") > slices.Index(order, "b4") {
				t.Fatalf("order %s", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("handled %s", got)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLeadHandsOverRetries: a key that fails at the lead is retried by its
// worker, so a retry that blocks does not hold back the partition's later
// batches.
func TestLeadHandsOverRetries(t *testing.T) {
	r, err := NewRouter(RouterConfig{Brokers: []string{"x"}, Group: "g",
		Backoff: Backoff{Initial: time.Millisecond, Max: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	retrying, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	var handled sync.Map
	handler := func(_ context.Context, m *Message) error {
		if m.Record.Offset == 0 {
			if m.Attempt == 1 {
				return errors.New("first attempt fails")
			}
			close(retrying)
			<-release
		}
		handled.Store(fmt.Sprintf("%s%d", m.Record.Key, m.Record.Offset), true)
		return nil
	}
	p := newPartition(r, topicPartition{"t", 0}, handler, attemptRecord{mark: -1}, -1)
	defer func() { free(); p.stop(); p.wg.Wait() }()
	p.dispatch([]*kgo.Record{{Key: []byte("a"), Offset: 0}}, 0)
	<-retrying
	// "b" and "c" hash to other workers than "a" (TestKeyHashFixed).
	p.dispatch([]*kgo.Record{{Key: []byte("b"), Offset: 1}, {Key: []byte("c"), Offset: 2}, {Key: []byte("a"), Offset: 3}}, 0)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, b := handled.Load("b1")
		_, c := handled.Load("c2")
		if b && c {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b1 and c2 not handled while a0's retry blocks")
		}
		time.Sleep(time.Millisecond)
	}
	if _, ok := handled.Load("a3"); ok {
		t.Fatal("a3 handled before a0")
	}
	free()
	for {
		_, a0 := handled.Load("a0")
		_, a3 := handled.Load("a3")
		if a0 && a3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a0 %v, a3 %v handled after the release", a0, a3)
		}
		time.Sleep(time.Millisecond)
	}
}

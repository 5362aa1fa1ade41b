package share

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// openBroker opens a broker on dir with topic "t" (one partition) holding
// n one-record batches, created when the topic is new.
func openBroker(t *testing.T, dir string, n int) (*broker.Broker, *broker.Topic) {
	t.Helper()
	b, err := broker.Open(broker.Config{DataDir: dir, Durability: "always", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	top := b.Topic("t")
	if top == nil {
		if top, err = b.CreateTopic("t", 1, nil, false); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			batch := records.BuildBatch(records.BatchSpec{ProducerID: -1, BaseSequence: -1}, records.Record{Value: []byte{byte(i)}})
			if _, err := top.Partition(0).Write(batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	return b, top
}

func openCoordinator(t *testing.T, b *broker.Broker, locks int) *Coordinator {
	t.Helper()
	c, err := Open(Config{Broker: b, Logger: quiet, MaxRecordLocks: locks})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AlterConfigs("g", []ConfigOp{{Name: CfgAutoOffsetReset, Value: "earliest"}}, false); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"a", "b"} {
		if _, err := c.Heartbeat("g", Heartbeat{MemberID: m, Topics: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func acquired(t *testing.T, c *Coordinator, top *broker.Topic, member string, max int) []Range {
	t.Helper()
	a, err := c.Acquire("g", member, top, 0, max, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return a.Ranges
}

// TestCoordinatorInFlightLimit: at MaxRecordLocks in flight nothing more
// is acquired; accepting the oldest records makes room and wakes waiters.
func TestCoordinatorInFlightLimit(t *testing.T) {
	b, top := openBroker(t, t.TempDir(), 6)
	defer b.Close()
	c := openCoordinator(t, b, 4)
	defer c.Close()
	if got := acquired(t, c, top, "a", 2); len(got) != 1 || got[0] != (Range{0, 1, 1}) {
		t.Fatalf("a acquired %v", got)
	}
	if got := acquired(t, c, top, "b", 10); len(got) != 1 || got[0] != (Range{2, 3, 1}) {
		t.Fatalf("b acquired %v, want 2-3 (the in-flight limit is 4)", got)
	}
	if got := acquired(t, c, top, "b", 10); len(got) != 0 {
		t.Fatalf("acquired past the in-flight limit: %v", got)
	}
	wake := c.Available("g", top.ID, 0)
	if err := c.Acknowledge("g", "b", top.ID, 0, []AckBatch{{2, 3, []int8{AckAccept}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
		t.Fatal("woken though the start did not move")
	default:
	}
	if err := c.Acknowledge("g", "a", top.ID, 0, []AckBatch{{0, 1, []int8{AckAccept}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	default:
		t.Fatal("not woken when the start moved")
	}
	if got := acquired(t, c, top, "b", 10); len(got) != 1 || got[0] != (Range{4, 5, 1}) {
		t.Fatalf("b acquired %v after the window moved", got)
	}
}

// TestCoordinatorReplay: a reopened coordinator (a restart) has the start
// offset, the delivery counts of records that were acquired, and the
// group's configs.
func TestCoordinatorReplay(t *testing.T) {
	dir := t.TempDir()
	b, top := openBroker(t, dir, 4)
	c := openCoordinator(t, b, 100)
	acquired(t, c, top, "a", 4)
	if err := c.Acknowledge("g", "a", top.ID, 0, []AckBatch{{0, 0, []int8{AckAccept}}, {1, 1, []int8{AckRelease}}}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b, top = openBroker(t, dir, 0)
	defer b.Close()
	c = openCoordinator(t, b, 100)
	defer c.Close()
	if got := c.Configs("g")[CfgAutoOffsetReset]; got != "earliest" {
		t.Fatalf("config after replay %q", got)
	}
	if off, ok := c.StartOffsetOf("g", top.ID, 0); !ok || off != 1 {
		t.Fatalf("start offset after replay %d %v, want 1", off, ok)
	}
	if got := acquired(t, c, top, "b", 10); len(got) != 1 || got[0] != (Range{1, 3, 2}) {
		t.Fatalf("after replay acquired %v, want 1-3 at delivery 2", got)
	}
}

// TestCoordinatorSessions: a session opens at epoch 0 for a member only,
// then follows its epoch; -1 closes it and releases the member's records.
func TestCoordinatorSessions(t *testing.T) {
	b, top := openBroker(t, t.TempDir(), 2)
	defer b.Close()
	c := openCoordinator(t, b, 100)
	defer c.Close()
	tp := []TP{{top.ID, 0}}
	if _, err := c.Session("g", "stranger", 0, tp, nil); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("a non-member opened a session: %v", err)
	}
	if _, err := c.Session("g", "a", 1, nil, nil); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("epoch 1 without a session: %v", err)
	}
	if parts, err := c.Session("g", "a", 0, tp, nil); err != nil || len(parts) != 1 {
		t.Fatalf("open: %v %v", parts, err)
	}
	if _, err := c.Session("g", "a", 2, nil, nil); !errors.Is(err, ErrInvalidEpoch) {
		t.Fatalf("epoch 2 before 1: %v", err)
	}
	if parts, err := c.Session("g", "a", 1, nil, tp); err != nil || len(parts) != 0 {
		t.Fatalf("forget: %v %v", parts, err)
	}
	acquired(t, c, top, "a", 10)
	c.CloseSession("g", "a")
	if got := acquired(t, c, top, "b", 10); len(got) != 1 || got[0] != (Range{0, 1, 2}) {
		t.Fatalf("after the session closed b acquired %v", got)
	}
}

// TestCoordinatorMemberExpiry: a member that stops heartbeating is
// removed after the session timeout and its records are released.
func TestCoordinatorMemberExpiry(t *testing.T) {
	b, top := openBroker(t, t.TempDir(), 1)
	defer b.Close()
	var now atomic.Int64 // the expiry loop reads the clock too
	now.Store(time.Unix(1000, 0).UnixNano())
	c, err := Open(Config{Broker: b, Logger: quiet, SessionTimeout: time.Second, Now: func() time.Time { return time.Unix(0, now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.AlterConfigs("g", []ConfigOp{{Name: CfgAutoOffsetReset, Value: "earliest"}}, false)
	if _, err := c.Heartbeat("g", Heartbeat{MemberID: "a", Topics: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	acquired(t, c, top, "a", 1)
	now.Add(int64(2 * time.Second))
	c.expireMembers()
	if n := c.Members("g"); n != 0 {
		t.Fatalf("%d members after the session timeout", n)
	}
	if _, err := c.Heartbeat("g", Heartbeat{MemberID: "b", Topics: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	// The coordinator's own expiry loop reads the same clock and may have
	// removed a first, releasing its records just after this test's
	// expireMembers found nothing left to do: wait for the release.
	testenv.CheckFor(t, 10*time.Second, func() error {
		if got := acquired(t, c, top, "b", 1); len(got) != 1 || got[0].Count != 2 {
			return fmt.Errorf("expired member's record: %v", got)
		}
		return nil
	})
}

func TestAlterConfigs(t *testing.T) {
	b, _ := openBroker(t, t.TempDir(), 0)
	defer b.Close()
	c, err := Open(Config{Broker: b, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name    string
		ops     []ConfigOp
		wantErr bool
	}{
		{"reset earliest", []ConfigOp{{Name: CfgAutoOffsetReset, Value: "earliest"}}, false},
		{"reset by_duration (unsupported)", []ConfigOp{{Name: CfgAutoOffsetReset, Value: "by_duration:PT1H"}}, true},
		{"lock duration", []ConfigOp{{Name: CfgLockDuration, Value: "15000"}}, false},
		{"lock duration too short", []ConfigOp{{Name: CfgLockDuration, Value: "10"}}, true},
		{"record locks", []ConfigOp{{Name: CfgMaxRecordLocks, Value: "5000"}}, false},
		{"record locks too many", []ConfigOp{{Name: CfgMaxRecordLocks, Value: "50000"}}, true},
		{"isolation", []ConfigOp{{Name: CfgIsolation, Value: "read_uncommitted"}}, false},
		{"unknown name", []ConfigOp{{Name: "share.nope", Value: "1"}}, true},
		{"one bad op refuses all", []ConfigOp{{Name: CfgDeliveryLimit, Value: "3"}, {Name: CfgDeliveryLimit, Value: "99"}}, true},
		{"delete", []ConfigOp{{Name: CfgIsolation, Op: 1}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := c.Configs("g")
			err := c.AlterConfigs("g", tc.ops, false)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil && len(c.Configs("g")) != len(before) {
				t.Fatalf("a refused alter changed the configs: %v", c.Configs("g"))
			}
		})
	}
	want := map[string]string{CfgAutoOffsetReset: "earliest", CfgLockDuration: "15000", CfgMaxRecordLocks: "5000"}
	if got := c.Configs("g"); len(got) != len(want) || got[CfgLockDuration] != "15000" || got[CfgMaxRecordLocks] != "5000" {
		t.Fatalf("configs %v, want %v", got, want)
	}
	if d := c.LockDuration("g"); d != 15*time.Second {
		t.Fatalf("lock duration %v", d)
	}
}

// TestCoordinatorSelfBlocked: an Acquire that gets nothing because the
// in-flight window is full reports SelfBlocked only when the member holds
// records of the window and the log has records past it.
func TestCoordinatorSelfBlocked(t *testing.T) {
	b, top := openBroker(t, t.TempDir(), 6)
	defer b.Close()
	c := openCoordinator(t, b, 4)
	defer c.Close()
	selfBlocked := func(member string) bool {
		t.Helper()
		a, err := c.Acquire("g", member, top, 0, 10, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Ranges) != 0 {
			t.Fatalf("%s acquired %v past a full window", member, a.Ranges)
		}
		return a.SelfBlocked
	}
	acquired(t, c, top, "a", 2) // 0-1
	acquired(t, c, top, "b", 2) // 2-3: the window is full
	if !selfBlocked("a") || !selfBlocked("b") {
		t.Fatal("a member holding records of a full window is not SelfBlocked")
	}
	if selfBlocked("c") {
		t.Fatal("a member holding nothing is SelfBlocked")
	}
	if err := c.Acknowledge("g", "a", top.ID, 0, []AckBatch{{First: 0, Last: 1, Types: []int8{AckAccept}}}); err != nil {
		t.Fatal(err)
	}
	if got := acquired(t, c, top, "a", 10); len(got) != 1 || got[0] != (Range{4, 5, 1}) {
		t.Fatalf("a acquired %v, want 4-5", got)
	}
	if selfBlocked("a") {
		t.Fatal("SelfBlocked with no record past the window")
	}
}

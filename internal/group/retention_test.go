package group

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

// fakeClock is a settable clock for the coordinator.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// retentionRig is a broker and coordinator on one data directory, with a
// fake clock; reopen restarts both.
type retentionRig struct {
	t     *testing.T
	dir   string
	clock *fakeClock
	b     *broker.Broker
	c     *Coordinator
}

func (r *retentionRig) open() {
	r.t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := broker.Open(broker.Config{DataDir: r.dir, Durability: "always", Logger: quiet})
	if err != nil {
		r.t.Fatal(err)
	}
	// RetentionCheck is long: the test calls ExpireOffsets itself.
	c, err := OpenCoordinator(CoordinatorConfig{Broker: b, Logger: quiet, Now: r.clock.Now, RetentionCheck: time.Hour})
	if err != nil {
		r.t.Fatal(err)
	}
	r.b, r.c = b, c
}

func (r *retentionRig) close() {
	r.c.Close()
	r.b.Close()
}

func (r *retentionRig) reopen() { r.close(); r.open() }

// commit stores offset for t/p as a commit outside any generation (as
// kadm or a simple consumer does) at the clock's time.
func (r *retentionRig) commit(grp string, p int32, offset int64) {
	r.t.Helper()
	if err := r.c.CommitCheck(grp, "", "", -1); err != nil {
		r.t.Fatal(err)
	}
	o := Offset{Offset: offset, LeaderEpoch: -1, CommitTime: r.clock.Now().UnixMilli()}
	if err := r.c.Commit(grp, map[TopicPartition]Offset{{"t", p}: o}); err != nil {
		r.t.Fatal(err)
	}
}

// committed returns the group's committed partitions and offsets.
func (r *retentionRig) committed(grp string) map[int32]int64 {
	offs, ok := r.c.Committed(grp)
	if !ok {
		return nil
	}
	out := map[int32]int64{}
	for tp, o := range offs {
		out[tp.Partition] = o.Offset
	}
	return out
}

func (r *retentionRig) expect(when, grp string, want map[int32]int64) {
	r.t.Helper()
	got := r.committed(grp)
	if len(got) != len(want) {
		r.t.Fatalf("%s: group %s committed %v, want %v", when, grp, got, want)
	}
	for p, o := range want {
		if got[p] != o {
			r.t.Fatalf("%s: group %s committed %v, want %v", when, grp, got, want)
		}
	}
}

// TestExpireOffsets checks offsets.retention.minutes (7 days): an empty
// group's offsets go once the later of their commit and the group
// becoming empty is a retention period old; a group with members keeps
// them; the group goes with its last offset; and nothing expired comes
// back after a restart.
func TestExpireOffsets(t *testing.T) {
	const day = 24 * time.Hour
	// The clock starts at the real time: the drivers' timers wait for the
	// fake deadlines in real time, so a member's session (30 minutes)
	// does not run out while the test moves the clock by days.
	r := &retentionRig{t: t, dir: t.TempDir(), clock: &fakeClock{now: time.Now()}}
	r.open()
	defer func() { r.close() }()
	if _, err := r.b.CreateTopic("t", 2, nil, false); err != nil {
		t.Fatal(err)
	}

	// "simple" never has members: p0 committed at day 0, p1 at day 2.
	r.commit("simple", 0, 10)
	r.clock.add(2 * day)
	r.commit("simple", 1, 20)

	// "live" has a member through day 8, which commits at day 2.
	j := r.c.Join("live", Join{ClientID: "c", ProtocolType: "consumer",
		Protocols: []Protocol{{Name: "range"}}, Session: 30 * time.Minute, Rebalance: time.Minute})
	if j.Err != nil {
		t.Fatal(j.Err)
	}
	if s := r.c.Sync("live", Sync{MemberID: j.MemberID, Generation: j.Generation, Assignments: map[string][]byte{j.MemberID: nil}}); s.Err != nil {
		t.Fatal(s.Err)
	}
	if err := r.c.CommitCheck("live", j.MemberID, "", j.Generation); err != nil {
		t.Fatal(err)
	}
	o := Offset{Offset: 30, LeaderEpoch: -1, CommitTime: r.clock.Now().UnixMilli()}
	if err := r.c.Commit("live", map[TopicPartition]Offset{{"t", 0}: o}); err != nil {
		t.Fatal(err)
	}

	// Day 7 minus 1ms: nothing is old enough.
	now := r.clock.add(5*day - time.Millisecond)
	if n := r.c.ExpireOffsets(now); n != 0 {
		t.Fatalf("day 7 - 1ms: expired %d offsets", n)
	}
	// Day 7: simple's p0 goes, its p1 (day 2) stays.
	now = r.clock.add(time.Millisecond)
	if n := r.c.ExpireOffsets(now); n != 1 {
		t.Fatalf("day 7: expired %d offsets, want 1", n)
	}
	r.expect("day 7", "simple", map[int32]int64{1: 20})

	// Day 8: live's member is still there; the broker restarts. A
	// restart keeps what has not expired, and not what has.
	r.clock.add(day)
	if err := r.c.Heartbeat("live", Heartbeat{MemberID: j.MemberID, Generation: j.Generation}); err != nil {
		t.Fatal(err)
	}
	r.reopen()
	r.expect("restart at day 8", "simple", map[int32]int64{1: 20})
	r.expect("restart at day 8", "live", map[int32]int64{0: 30})

	// Day 9: simple's p1 goes, and the group with it. live's offset is
	// 7 days old too, but its member (restored by the restart) keeps it.
	now = r.clock.add(day)
	if n := r.c.ExpireOffsets(now); n != 1 {
		t.Fatalf("day 9: expired %d offsets, want 1", n)
	}
	if offs, ok := r.c.Committed("simple"); ok {
		t.Fatalf("day 9: group simple still exists with %v", offs)
	}
	r.expect("day 9", "live", map[int32]int64{0: 30})

	// The member leaves at day 9: live's offset goes at day 16, not
	// before, restart or not.
	if errs := r.c.Leave("live", []Leave{{MemberID: j.MemberID}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	r.reopen()
	now = r.clock.add(7*day - time.Millisecond)
	if n := r.c.ExpireOffsets(now); n != 0 {
		t.Fatalf("day 16 - 1ms: expired %d offsets", n)
	}
	now = r.clock.add(time.Millisecond)
	if n := r.c.ExpireOffsets(now); n != 1 {
		t.Fatalf("day 16: expired %d offsets, want 1", n)
	}
	if offs, ok := r.c.Committed("live"); ok {
		t.Fatalf("day 16: group live still exists with %v", offs)
	}

	// Expired offsets and deleted groups stay gone after a restart.
	r.reopen()
	for _, g := range []string{"simple", "live"} {
		if offs, ok := r.c.Committed(g); ok {
			t.Fatalf("after restart: expired group %s came back with %v", g, offs)
		}
	}
	if n := r.c.ExpireOffsets(r.clock.add(30 * day)); n != 0 {
		t.Fatalf("after restart: expired %d offsets again", n)
	}
}

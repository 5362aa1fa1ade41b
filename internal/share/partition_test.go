package share

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Unix(1000, 0)

// acquireN extends p with n deliverable offsets from End for member.
func acquireN(p *Partition, n int, member string, deadline time.Time) {
	for range n {
		p.Extend(p.End(), true, member, deadline)
	}
}

func TestPartitionAckAdvancesStart(t *testing.T) {
	p := &Partition{Start: 10}
	acquireN(p, 5, "a", t0.Add(time.Second))
	if err := p.Acknowledge("a", 11, 12, AckAccept, 5, t0); err != nil {
		t.Fatal(err)
	}
	if p.Start != 10 {
		t.Fatalf("start moved past an acquired record: %d", p.Start)
	}
	if err := p.Acknowledge("a", 10, 10, AckReject, 5, t0); err != nil {
		t.Fatal(err)
	}
	if p.Start != 13 || p.End() != 15 {
		t.Fatalf("start %d end %d, want 13 15", p.Start, p.End())
	}
}

func TestPartitionAckChecksOwner(t *testing.T) {
	p := &Partition{}
	acquireN(p, 2, "a", t0.Add(time.Second))
	for _, c := range []struct {
		name        string
		member      string
		first, last int64
		typ         int8
		want        error
	}{
		{"other member", "b", 0, 0, AckAccept, ErrInvalidRecordState},
		{"past end", "a", 0, 2, AckAccept, ErrInvalidRecordState},
		{"before start", "a", -1, 0, AckAccept, ErrInvalidRecordState},
		{"bad type", "a", 0, 0, 9, ErrInvalidAck},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := p.Acknowledge(c.member, c.first, c.last, c.typ, 5, t0); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if got := p.Counts()[Acquired]; got != 2 {
				t.Fatalf("a refused ack changed state: %d acquired", got)
			}
		})
	}
}

func TestPartitionReleaseRedeliversUntilLimit(t *testing.T) {
	p := &Partition{}
	acquireN(p, 1, "a", t0.Add(time.Second))
	for want := int16(2); want <= 3; want++ {
		if err := p.Acknowledge("a", 0, 0, AckRelease, 3, t0); err != nil {
			t.Fatal(err)
		}
		n, ok := p.TryAcquire(0, "a", t0.Add(time.Second))
		if !ok || n != want {
			t.Fatalf("reacquire: count %d ok %v, want %d", n, ok, want)
		}
	}
	if err := p.Acknowledge("a", 0, 0, AckRelease, 3, t0); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.TryAcquire(0, "a", t0); ok || p.Start != 1 {
		t.Fatalf("a record delivered 3 times with limit 3 was not archived (start %d)", p.Start)
	}
}

func TestPartitionExpire(t *testing.T) {
	p := &Partition{}
	acquireN(p, 2, "a", t0.Add(time.Second))
	if p.Expire(t0, 5) {
		t.Fatal("expired before the deadline")
	}
	if !p.Expire(t0.Add(time.Second), 5) || p.Counts()[Available] != 2 {
		t.Fatalf("locks did not expire: %v", p.Counts())
	}
	if n, ok := p.TryAcquire(1, "b", t0.Add(time.Hour)); !ok || n != 2 {
		t.Fatalf("reacquire after expiry: %d %v", n, ok)
	}
	if p.FirstAvailable() != 0 {
		t.Fatalf("first available %d", p.FirstAvailable())
	}
	if !p.ReleaseMember("b", 5) || p.Counts()[Available] != 2 {
		t.Fatalf("release member: %v", p.Counts())
	}
}

func TestPartitionGapsAndTrim(t *testing.T) {
	p := &Partition{Start: 5}
	p.Extend(8, true, "a", t0) // 5, 6, 7 are gaps
	if p.Start != 5 || p.InFlight() != 4 {
		t.Fatalf("start %d inflight %d", p.Start, p.InFlight())
	}
	if err := p.Acknowledge("a", 8, 8, AckAccept, 5, t0); err != nil {
		t.Fatal(err)
	}
	p.compact()
	if p.Start != 9 || p.InFlight() != 0 {
		t.Fatalf("gaps not compacted: start %d inflight %d", p.Start, p.InFlight())
	}
	acquireN(p, 3, "a", t0)
	p.TrimTo(10)
	if p.Start != 10 || p.End() != 12 {
		t.Fatalf("trim: start %d end %d", p.Start, p.End())
	}
	p.TrimTo(50)
	if p.Start != 50 || p.InFlight() != 0 {
		t.Fatalf("trim past end: start %d inflight %d", p.Start, p.InFlight())
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	p := &Partition{Start: 100}
	acquireN(p, 6, "a", t0)
	_ = p.Acknowledge("a", 101, 102, AckAccept, 5, t0)
	_ = p.Acknowledge("a", 103, 103, AckRelease, 5, t0)
	_ = p.Acknowledge("a", 104, 104, AckReject, 5, t0)
	q, err := decodePartition(encodePartition(p))
	if err != nil {
		t.Fatal(err)
	}
	if q.Start != 100 || q.End() != 106 {
		t.Fatalf("start %d end %d", q.Start, q.End())
	}
	want := []State{Available, Acknowledged, Acknowledged, Available, Archived, Available}
	for i, st := range want {
		if q.recs[i].state != st || q.recs[i].count != 1 {
			t.Fatalf("offset %d: %v/%d, want %v/1 (acquired persists as available)", 100+i, q.recs[i].state, q.recs[i].count, st)
		}
	}
}

// FuzzDecodeState: decoding a damaged state record never panics and never
// yields a partition that breaks the start invariant.
func FuzzDecodeState(f *testing.F) {
	p := &Partition{Start: 3}
	acquireN(p, 4, "a", t0)
	_ = p.Acknowledge("a", 4, 4, AckAccept, 5, t0)
	f.Add(encodePartition(p))
	f.Add(encodeConfigs(map[string]string{CfgAutoOffsetReset: "earliest"}))
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if q, err := decodePartition(b); err == nil && q.InFlight() > 0 {
			if st := q.recs[0].state; st == Acknowledged || st == Archived {
				t.Fatalf("decoded partition starts with a finished record")
			}
		}
		_, _ = decodeConfigs(b)
		_, _ = decodeKey(b)
	})
}

func TestAssignSharesPartitions(t *testing.T) {
	id := [16]byte{1}
	g := &Group{Members: map[string]*Member{}}
	for _, m := range []string{"a", "b", "c"} {
		g.Members[m] = &Member{ID: m, Topics: []string{"t"}}
	}
	assign(g, map[string]TopicInfo{"t": {ID: id, Partitions: 1}})
	for _, m := range g.Members {
		if len(m.Assignment[id]) != 1 || m.Assignment[id][0] != 0 {
			t.Fatalf("member %s: %v, want partition 0 shared", m.ID, m.Assignment)
		}
	}
	assign(g, map[string]TopicInfo{"t": {ID: id, Partitions: 6}})
	seen := map[int32]int{}
	for _, m := range g.Members {
		if len(m.Assignment[id]) != 2 {
			t.Fatalf("member %s: %v, want 2 of 6", m.ID, m.Assignment)
		}
		for _, p := range m.Assignment[id] {
			seen[p]++
		}
	}
	if len(seen) != 6 {
		t.Fatalf("partitions not all assigned: %v", seen)
	}
}

func TestPartitionHolds(t *testing.T) {
	p := &Partition{}
	acquireN(p, 2, "a", t0.Add(time.Second))
	acquireN(p, 1, "b", t0.Add(time.Second))
	if !p.Holds("a") || !p.Holds("b") || p.Holds("c") {
		t.Fatalf("holds a=%v b=%v c=%v, want true true false", p.Holds("a"), p.Holds("b"), p.Holds("c"))
	}
	if err := p.Acknowledge("b", 2, 2, AckAccept, 5, t0); err != nil {
		t.Fatal(err)
	}
	if err := p.Acknowledge("a", 0, 0, AckRelease, 5, t0); err != nil {
		t.Fatal(err)
	}
	if p.Holds("b") {
		t.Fatal("b holds a record it accepted")
	}
	if !p.Holds("a") {
		t.Fatal("a lost the record it still holds")
	}
}

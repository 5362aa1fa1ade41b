package group

import (
	"testing"
	"time"
)

// TestInitialRebalanceDelay checks group.initial.rebalance.delay.ms: an
// Empty group's first join phase waits the delay after the latest new
// member, capped by the rebalance timeout; later rebalances do not wait.
func TestInitialRebalanceDelay(t *testing.T) {
	t0 := time.Unix(1000, 0)
	join := func(g *Group, now time.Time, tok Token, rebalance time.Duration) []any {
		return g.Step(now, Join{Token: tok, ClientID: "c", ProtocolType: "consumer",
			Protocols: []Protocol{{Name: "range"}}, Session: 10 * time.Second, Rebalance: rebalance})
	}
	joined := func(effs []any) int {
		n := 0
		for _, e := range effs {
			if r, ok := e.(Reply); ok {
				if jr, ok := r.Resp.(JoinResult); ok && jr.Err == nil {
					n++
				}
			}
		}
		return n
	}
	deadline := func(g *Group) time.Time {
		d, _ := g.NextDeadline()
		return d
	}

	t.Run("off", func(t *testing.T) {
		g := New("g", Config{})
		if n := joined(join(g, t0, 1, time.Minute)); n != 1 {
			t.Fatalf("without a delay the first join completes at once; %d answered", n)
		}
	})

	t.Run("extended by new members", func(t *testing.T) {
		g := New("g", Config{InitialRebalanceDelay: 3 * time.Second})
		if n := joined(join(g, t0, 1, time.Minute)); n != 0 {
			t.Fatalf("first join answered at once during the delay")
		}
		if d := deadline(g); !d.Equal(t0.Add(3 * time.Second)) {
			t.Fatalf("deadline %v after the first join, want +3s", d.Sub(t0))
		}
		if n := joined(join(g, t0.Add(2*time.Second), 2, time.Minute)); n != 0 {
			t.Fatalf("second join answered during the delay")
		}
		if d := deadline(g); !d.Equal(t0.Add(5 * time.Second)) {
			t.Fatalf("deadline %v after the second join, want +5s", d.Sub(t0))
		}
		if n := joined(g.Step(t0.Add(5*time.Second-time.Millisecond), Tick{})); n != 0 {
			t.Fatalf("join phase ended before the delay")
		}
		if n := joined(g.Step(t0.Add(5*time.Second), Tick{})); n != 2 {
			t.Fatalf("%d members answered when the delay ended, want 2", n)
		}
		if g.State() != CompletingRebalance || g.Generation() != 1 {
			t.Fatalf("state %s generation %d, want CompletingRebalance 1", g.State(), g.Generation())
		}
		if _, ok := g.NextDeadline(); ok && deadline(g).Before(t0.Add(5*time.Second)) {
			t.Fatalf("deadline %v left in the past", deadline(g))
		}
	})

	t.Run("capped by the rebalance timeout", func(t *testing.T) {
		g := New("g", Config{InitialRebalanceDelay: 3 * time.Second})
		join(g, t0, 1, 4*time.Second)
		join(g, t0.Add(2*time.Second), 2, 4*time.Second)
		if d := deadline(g); !d.Equal(t0.Add(4 * time.Second)) {
			t.Fatalf("deadline %v, want the rebalance timeout (+4s)", d.Sub(t0))
		}
		if n := joined(g.Step(t0.Add(4*time.Second), Tick{})); n != 2 {
			t.Fatalf("%d members answered at the rebalance timeout, want 2", n)
		}
	})
}

package bench

import (
	"strings"
	"testing"
	"time"
)

// TestQuickReportHasNoTargets checks that a quick run's report leaves the
// targets table out (its ratios swing too much to judge) and says why,
// and that a full run's report has it.
func TestQuickReportHasNoTargets(t *testing.T) {
	peer := func(name string, produce, consume time.Duration) *PeerResult {
		return &PeerResult{Spec: PeerSpec{Name: name},
			Produce1: Throughput{Records: 1000, Elapsed: produce}, Produce4: Throughput{Records: 1000, Elapsed: produce},
			Consume: Throughput{Records: 1000, Elapsed: consume}}
	}
	for _, quick := range []bool{true, false} {
		r := &Results{Quick: quick, Peers: []*PeerResult{peer("herald", time.Second, time.Second), peer("kfake-sync", 2*time.Second, 3*time.Second)}}
		var b strings.Builder
		ratios(&b, r)
		out := b.String()
		if !strings.Contains(out, "Herald / peer ratios") {
			t.Fatalf("quick=%v: no ratios:\n%s", quick, out)
		}
		hasTable := strings.Contains(out, "| target | measured | met |")
		if hasTable == quick {
			t.Fatalf("quick=%v: targets table present %v:\n%s", quick, hasTable, out)
		}
		if quick && !strings.Contains(out, quickNoTargets) {
			t.Fatalf("quick report does not say why there are no targets:\n%s", out)
		}
		if !quick && !strings.Contains(out, "consume >= 1.2x kfake-sync | 3.00x | yes") {
			t.Fatalf("full report targets:\n%s", out)
		}
	}
}

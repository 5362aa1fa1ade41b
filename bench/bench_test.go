package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestTinyRun runs the whole harness against Herald and in-memory kfake
// with 2,000 records and writes a report, to keep the harness working.
func TestTinyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts servers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := Config{
		Peers: []string{"herald", "kfake-mem"}, Records: 2000, ProduceCap: 5 * time.Second,
		RTTSamples: 100, RTTCap: time.Second, Rates: []int{2000}, RateDuration: 300 * time.Millisecond,
		DiskProbe: 100 * time.Millisecond, TempDir: t.TempDir(),
	}
	var log strings.Builder
	res, err := Run(ctx, cfg, &log)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	for _, p := range res.Peers {
		if len(p.Errors) > 0 {
			t.Errorf("%s: %v", p.Spec.Name, p.Errors)
		}
		if p.Produce1.Records != 2000 || p.Consume.Records != 2000 || p.RTT.N == 0 || p.E2E[0].Received != p.E2E[0].Sent {
			t.Errorf("%s: incomplete: %+v", p.Spec.Name, p)
		}
		if p.Stats.PeakRSS == 0 || p.Stats.CPUSeconds == 0 {
			t.Errorf("%s: no proc stats: %+v", p.Spec.Name, p.Stats)
		}
	}
	if res.Fdatasync <= 0 {
		t.Errorf("fdatasync bandwidth %v", res.Fdatasync)
	}
	md, err := WriteReport(res, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| herald |", "Herald / peer ratios", "fdatasync", "What an acknowledgement means"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if _, err := os.Stat(strings.TrimSuffix(md, ".md") + ".png"); err != nil {
		t.Error(err)
	}
}

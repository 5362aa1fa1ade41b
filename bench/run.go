package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"
)

// PeerResult is every measurement of one peer.
type PeerResult struct {
	Spec              PeerSpec
	Version           string
	Produce1          Throughput
	Produce4          Throughput
	Consume           Throughput
	RTT               Latency
	E2E               []E2E
	Stats             ProcStats
	ProduceCPUSeconds float64 // server CPU during the 1-producer workload
	Errors            []string
}

// Results is one run.
type Results struct {
	Config    Config
	Quick     bool
	Started   time.Time
	Elapsed   time.Duration
	Host      string
	CPUs      int
	Fdatasync float64 // bytes/s
	SyncLat   Latency // one 1 KiB write+fdatasync
	Peers     []*PeerResult
	Profile   string // pprof summaries of an in-process Herald; "" when not profiled
}

// Run starts each peer in turn, runs every workload against it, and stops
// it. A failing workload is recorded in PeerResult.Errors, not returned.
func Run(ctx context.Context, cfg Config, log io.Writer) (*Results, error) {
	specs := Peers()
	if len(cfg.Peers) > 0 {
		specs = slices.DeleteFunc(specs, func(s PeerSpec) bool { return !slices.Contains(cfg.Peers, s.Name) })
		if len(specs) != len(cfg.Peers) {
			return nil, fmt.Errorf("unknown peer in %v", cfg.Peers)
		}
	}
	tmp, err := os.MkdirTemp(cfg.TempDir, "herald-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	env, err := PrepareEnv(ctx, filepath.Join(tmp, "bin"), specs, log)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	res := &Results{Config: cfg, Started: time.Now(), Host: host, CPUs: runtime.NumCPU()}
	fmt.Fprintf(log, "fdatasync probe (%v)\n", cfg.DiskProbe)
	if res.Fdatasync, err = FdatasyncBandwidth(tmp, cfg.DiskProbe); err != nil {
		return nil, fmt.Errorf("fdatasync probe: %w", err)
	}
	if res.SyncLat, err = FdatasyncLatency(tmp, cfg.DiskProbe); err != nil {
		return nil, fmt.Errorf("fdatasync probe: %w", err)
	}
	versions := env.Versions(ctx)
	for _, spec := range specs {
		pr := runPeer(ctx, env, spec, cfg, filepath.Join(tmp, spec.Name), log)
		pr.Version = versions[spec.Name]
		if spec.Proto == Redis {
			pr.Version = versions["redis"]
		}
		res.Peers = append(res.Peers, pr)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	res.Elapsed = time.Since(res.Started)
	return res, nil
}

func runPeer(ctx context.Context, env *Env, spec PeerSpec, cfg Config, dir string, log io.Writer) *PeerResult {
	pr := &PeerResult{Spec: spec}
	fail := func(what string, err error) {
		pr.Errors = append(pr.Errors, fmt.Sprintf("%s: %v", what, err))
		fmt.Fprintf(log, "  %s %s: %v\n", spec.Name, what, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail("mkdir", err)
		return pr
	}
	defer os.RemoveAll(dir)
	proc, err := spec.start(ctx, env, dir)
	if err != nil {
		fail("start", err)
		return pr
	}
	defer proc.Stop()
	fmt.Fprintf(log, "%s on %s (pid %d)\n", spec.Name, proc.Addr, proc.PID())
	c := NewClient(spec, proc.Addr)
	defer c.Close()

	before, _ := ReadProcStats(proc.PID())
	if pr.Produce1, err = Produce(ctx, c, "produce1", cfg.Records, 1, cfg.ProduceCap); err != nil {
		fail("produce x1", err)
	}
	after, _ := ReadProcStats(proc.PID())
	pr.ProduceCPUSeconds = after.CPUSeconds - before.CPUSeconds
	fmt.Fprintf(log, "  produce x1: %.0f rec/s (%d records, capped=%v)\n", pr.Produce1.PerSec(), pr.Produce1.Records, pr.Produce1.Capped)
	if pr.Produce1.Records > 0 {
		if pr.Consume, err = ConsumeBacklog(ctx, c, "produce1", pr.Produce1.Records); err != nil {
			fail("consume", err)
		}
		fmt.Fprintf(log, "  consume: %.0f rec/s\n", pr.Consume.PerSec())
	}
	if pr.Produce4, err = Produce(ctx, c, "produce4", cfg.Records, 4, cfg.ProduceCap); err != nil {
		fail("produce x4", err)
	}
	fmt.Fprintf(log, "  produce x4: %.0f rec/s (capped=%v)\n", pr.Produce4.PerSec(), pr.Produce4.Capped)
	if pr.RTT, err = RoundTrip(ctx, c, "rtt", cfg.RTTSamples, cfg.RTTCap); err != nil {
		fail("round trip", err)
	}
	fmt.Fprintf(log, "  one in flight: p50 %.0fµs p99 %.0fµs p99.9 %.0fµs (n=%d)\n", pr.RTT.P50, pr.RTT.P99, pr.RTT.P999, pr.RTT.N)
	for _, rate := range cfg.Rates {
		e, err := EndToEnd(ctx, c, fmt.Sprintf("e2e%d", rate), rate, cfg.RateDuration)
		if err != nil {
			fail(fmt.Sprintf("e2e %d/s", rate), err)
		}
		pr.E2E = append(pr.E2E, e)
		fmt.Fprintf(log, "  e2e %d/s: achieved %.0f, p50 %.0fµs p99 %.0fµs p99.9 %.0fµs (%d/%d received)\n",
			rate, e.Achieved, e.Lat.P50, e.Lat.P99, e.Lat.P999, e.Received, e.Sent)
	}
	if pr.Stats, err = ReadProcStats(proc.PID()); err != nil {
		fail("proc stats", err)
	}
	return pr
}

package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// WriteReport writes <date>-<host>.md and .png into dir and returns the
// markdown path.
func WriteReport(r *Results, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	base := fmt.Sprintf("%s-%s", r.Started.Format("2006-01-02"), r.Host)
	if r.Quick {
		base += "-quick"
	}
	png := base + ".png"
	if err := Chart(r, filepath.Join(dir, png)); err != nil {
		return "", fmt.Errorf("chart: %w", err)
	}
	var b strings.Builder
	Markdown(&b, r, png)
	md := filepath.Join(dir, base+".md")
	return md, os.WriteFile(md, []byte(b.String()), 0o644)
}

func (r *Results) peer(name string) *PeerResult {
	for _, p := range r.Peers {
		if p.Spec.Name == name {
			return p
		}
	}
	return nil
}

func us(v float64) string {
	if v >= 10_000 {
		return fmt.Sprintf("%.1f ms", v/1000)
	}
	if v >= 1000 {
		return fmt.Sprintf("%.2f ms", v/1000)
	}
	return fmt.Sprintf("%.0f µs", v)
}

func rate(t Throughput) string {
	if t.Records == 0 {
		return "-"
	}
	s := fmt.Sprintf("%.0f (%.0f MB/s)", t.PerSec(), t.MBps())
	if t.Capped {
		s += " †"
	}
	if t.Errors > 0 {
		s += fmt.Sprintf(" [%d errors]", t.Errors)
	}
	return s
}

// Markdown writes the report.
func Markdown(w io.Writer, r *Results, png string) {
	mode := "full"
	if r.Quick {
		mode = "quick"
	}
	fmt.Fprintf(w, "# Herald vs peers, %s on %s (%s mode)\n\n", r.Started.Format("2006-01-02 15:04 MST"), r.Host, mode)
	fmt.Fprintf(w, "%d CPUs, run took %s. Records of %d bytes (random, incompressible), one partition / stream. "+
		"Produce: %d records per workload (stopped after %s: marked †). One-in-flight: up to %d round trips or %s. "+
		"End-to-end: each offered rate held %s, open loop, latency from the *intended* send time (coordinated-omission corrected).\n\n",
		r.CPUs, r.Elapsed.Round(1e9), PayloadSize, r.Config.Records, r.Config.ProduceCap, r.Config.RTTSamples, r.Config.RTTCap, r.Config.RateDuration)
	fmt.Fprintf(w, "**Disk**: write+fdatasync of 1 MiB blocks in the same temp dir: **%.0f MB/s** (%.0f records/s of 1 KiB). "+
		"One 1 KiB append + fdatasync: p50 %s, p99 %s, p99.9 %s - the floor under any one-in-flight round trip that syncs.\n\n",
		r.Fdatasync/1e6, r.Fdatasync/PayloadSize, us(r.SyncLat.P50), us(r.SyncLat.P99), us(r.SyncLat.P999))
	fmt.Fprintf(w, "The machine is shared (other engineers' tests run concurrently), so expect noise of tens of percent.\n\n")

	fmt.Fprintf(w, "## Throughput and one-in-flight latency\n\n")
	fmt.Fprintf(w, "| peer | produce x1 rec/s | produce x4 rec/s | consume rec/s | 1-in-flight p50 | p99 | p99.9 | peak RSS | CPU s (total) | CPU µs/rec produce |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range r.Peers {
		cpuPer := "-"
		if p.Produce1.Records > 0 {
			cpuPer = fmt.Sprintf("%.1f", p.ProduceCPUSeconds*1e6/float64(p.Produce1.Records))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %.0f MiB | %.1f | %s |\n", p.Spec.Name, rate(p.Produce1), rate(p.Produce4), rate(p.Consume),
			us(p.RTT.P50), us(p.RTT.P99), us(p.RTT.P999), float64(p.Stats.PeakRSS)/(1<<20), p.Stats.CPUSeconds, cpuPer)
	}
	fmt.Fprintf(w, "\n## End-to-end latency (produce → consume) at offered rates\n\n![latency vs throughput](%s)\n\n", png)
	fmt.Fprintf(w, "| peer | offered/s | achieved/s | received | p50 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|---|\n")
	for _, p := range r.Peers {
		for _, e := range p.E2E {
			fmt.Fprintf(w, "| %s | %d | %.0f | %d/%d | %s | %s | %s | %s |\n", p.Spec.Name, e.Offered, e.Achieved, e.Received, e.Sent,
				us(e.Lat.P50), us(e.Lat.P99), us(e.Lat.P999), us(e.Lat.Max))
		}
	}
	ratios(w, r)
	fmt.Fprintf(w, "\n## What an acknowledgement means\n\n| peer | client | version | acknowledgement |\n|---|---|---|---|\n")
	for _, p := range r.Peers {
		client := map[Protocol]string{Kafka: "franz-go kgo: acks=all, batch ≤ 1 MiB, linger 1 ms, ≤ 4096 buffered", NATS: "nats.go JetStream PublishAsync, ≤ 4096 PubAcks in flight; ordered push consumer", Redis: "go-redis, pipelined XADD, ≤ 1024/pipeline, 4 pipelines in flight; XREAD COUNT 4096"}[p.Spec.Proto]
		v := p.Version
		if v == "" {
			v = "built from this tree / go.mod"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", p.Spec.Name, client, v, p.Spec.Ack)
	}
	if r.Profile != "" {
		fmt.Fprintf(w, "\n## Where Herald's time goes (CPU profile of an in-process Herald, durability always; includes the kgo client)\n\n%s", r.Profile)
	}
	var errs []string
	for _, p := range r.Peers {
		for _, e := range p.Errors {
			errs = append(errs, fmt.Sprintf("- %s: %s", p.Spec.Name, strings.ReplaceAll(e, "\n", " ")))
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(w, "\n## Errors\n\n%s\n", strings.Join(errs, "\n"))
	}
}

func ratios(w io.Writer, r *Results) {
	h := r.peer("herald")
	if h == nil {
		return
	}
	fmt.Fprintf(w, "\n## Herald / peer ratios (> 1: Herald better; latency ratios are peer/Herald)\n\n")
	fmt.Fprintf(w, "| peer | produce x1 | produce x4 | consume | 1-in-flight p99 |\n|---|---|---|---|---|\n")
	div := func(a, b float64) string {
		if a == 0 || b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", a/b)
	}
	for _, p := range r.Peers {
		if p == h {
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", p.Spec.Name, div(h.Produce1.PerSec(), p.Produce1.PerSec()),
			div(h.Produce4.PerSec(), p.Produce4.PerSec()), div(h.Consume.PerSec(), p.Consume.PerSec()), div(p.RTT.P99, h.RTT.P99))
	}
	targets(w, r, h)
}

// quickNoTargets is what a quick report says instead of the targets.
const quickNoTargets = "Not judged in quick mode: 100,000 records and short windows give ratios " +
	"that swing between runs (consume from 0.56x to 2.2x of the full run's on the same code), " +
	"too much to say whether a target is met. `make bench-peers` (the full run) reports them."

// targets writes the table of the project's performance targets, or in
// quick mode a line saying why there is none.
func targets(w io.Writer, r *Results, h *PeerResult) {
	if r.Quick {
		fmt.Fprintf(w, "\n## Targets\n\n%s\n", quickNoTargets)
		return
	}
	fmt.Fprintf(w, "\n## Targets (reported, not asserted)\n\n| target | measured | met |\n|---|---|---|\n")
	target := func(name string, got, want float64, format string, higher bool) {
		if got == 0 {
			fmt.Fprintf(w, "| %s | - | n/a |\n", name)
			return
		}
		ok := got >= want
		if !higher {
			ok = got <= want
		}
		fmt.Fprintf(w, "| %s | "+format+" | %s |\n", name, got, map[bool]string{true: "yes", false: "**no**"}[ok])
	}
	ratio := func(peer string, f func(*PeerResult) float64) float64 {
		p := r.peer(peer)
		if p == nil || f(p) == 0 {
			return 0
		}
		return f(h) / f(p)
	}
	prod := func(p *PeerResult) float64 { return max(p.Produce1.PerSec(), p.Produce4.PerSec()) }
	target("produce >= 1.2x kfake-sync (best of x1/x4)", ratio("kfake-sync", prod), 1.2, "%.2fx", true)
	target("produce >= 3x nats-js default (best of x1/x4)", ratio("nats-js", prod), 3, "%.2fx", true)
	for _, p := range r.Peers {
		if p != h {
			target("consume >= 1.2x "+p.Spec.Name, ratio(p.Spec.Name, func(p *PeerResult) float64 { return p.Consume.PerSec() }), 1.2, "%.2fx", true)
		}
	}
	target("one-in-flight p99 with fsync <= 1 ms (µs)", h.RTT.P99, 1000, "%.0f", false)
	if r.Fdatasync > 0 {
		target("produce >= 80% of fdatasync bandwidth", prod(h)*PayloadSize/r.Fdatasync*100, 80, "%.0f%%", true)
	}
}

package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"

	"github.com/heraldhq/herald/internal/server"
)

// ProfileHerald runs Herald in this process (herald serve has no pprof
// flag) with durability always and records CPU profiles of the produce and
// one-in-flight workloads into dir. The profiles include the kgo client's
// CPU too; the summary it returns focuses on Herald's packages.
func ProfileHerald(ctx context.Context, cfg Config, dir string, log io.Writer) (string, error) {
	data, err := os.MkdirTemp(cfg.TempDir, "herald-profile-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(data)
	scfg := server.DefaultConfig()
	scfg.DataDir, scfg.ListenAddr, scfg.Durability = data, "127.0.0.1:0", "always"
	scfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(scfg)
	if err != nil {
		return "", err
	}
	defer srv.Close()
	if err := srv.Start(); err != nil {
		return "", err
	}
	c := NewClient(PeerSpec{Proto: Kafka}, srv.Addr().String())
	var summary string
	for _, w := range []struct {
		name string
		run  func() error
	}{
		{"produce4", func() error {
			_, err := Produce(ctx, c, "produce4", cfg.Records, 4, cfg.ProduceCap)
			return err
		}},
		{"rtt", func() error {
			_, err := RoundTrip(ctx, c, "rtt", cfg.RTTSamples, cfg.RTTCap)
			return err
		}},
	} {
		path := filepath.Join(dir, "herald-cpu-"+w.name+".pprof")
		f, err := os.Create(path)
		if err != nil {
			return "", err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return "", err
		}
		err = w.run()
		pprof.StopCPUProfile()
		f.Close()
		if err != nil {
			return "", fmt.Errorf("%s: %w", w.name, err)
		}
		fmt.Fprintf(log, "profile: %s\n", path)
		out, _ := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=20", path).CombinedOutput()
		summary += fmt.Sprintf("### %s (flat)\n\n```\n%s```\n\n", w.name, trimPprof(out))
		out, _ = exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=30", "-focus=heraldhq/herald/internal", path).CombinedOutput()
		summary += fmt.Sprintf("### %s (cumulative, Herald's packages)\n\n```\n%s```\n\n", w.name, trimPprof(out))
	}
	return summary, nil
}

// trimPprof drops pprof's File, Build ID and Time header lines.
func trimPprof(out []byte) string {
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

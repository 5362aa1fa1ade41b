// Command peers benchmarks Herald against kfake, NATS JetStream and Redis
// Streams on this machine and writes bench/results/<date>-<host>.md with a
// latency-vs-throughput chart next to it.
//
//	go run ./bench/cmd/peers -quick          # under 2 minutes
//	go run ./bench/cmd/peers                 # the full run (1,000,000 records)
//	go run ./bench/cmd/peers -peers herald,kfake-sync -out /tmp/r
//
// Run it from inside the Herald module: it builds ./cmd/herald.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/heraldhq/herald/bench"
)

func main() {
	quick := flag.Bool("quick", false, "development mode: 100,000 records, short latency windows (< 2 min); its report has no targets table, the ratios swing too much to judge")
	peers := flag.String("peers", "", "comma-separated peers to run (default: all): "+names())
	out := flag.String("out", "bench/results", "directory for the report and chart")
	records := flag.Int("records", 0, "records per produce workload (default 1,000,000; 100,000 with -quick)")
	profile := flag.Bool("profile", false, "also CPU-profile an in-process Herald (herald serve has no pprof flag); profiles go to -out")
	tmp := flag.String("tmp", "", "parent of the peers' data dirs (default $TMPDIR)")
	flag.Parse()

	cfg := bench.FullConfig()
	if *quick {
		cfg = bench.QuickConfig()
	}
	if *records > 0 {
		cfg.Records = *records
	}
	if *peers != "" {
		cfg.Peers = strings.Split(*peers, ",")
	}
	cfg.TempDir = *tmp
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
	res.Quick = *quick
	if *profile {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "peers:", err)
			os.Exit(1)
		}
		if res.Profile, err = bench.ProfileHerald(ctx, cfg, *out, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "peers: profile:", err)
		}
	}
	md, err := bench.WriteReport(res, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
	fmt.Println(md)
}

func names() string {
	var n []string
	for _, p := range bench.Peers() {
		n = append(n, p.Name)
	}
	return strings.Join(n, ",")
}

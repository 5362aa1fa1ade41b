// Command kfakeserve runs franz-go's kfake as a one-broker Kafka cluster in
// its own process, so that the benchmarks (compat's BenchmarkPeers and the
// bench harness) can measure kfake's memory and CPU apart from their own.
//
// Usage:
//
//	kfakeserve -port 9092 -data-dir /tmp/kfake -sync
//
// It prints "listening on HOST:PORT" once it accepts connections and
// shuts down cleanly on SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 0, "port to listen on, on 127.0.0.1 (0: any free port)")
	dataDir := flag.String("data-dir", "", "persist to this directory (empty: memory only)")
	syncWrites := flag.Bool("sync", false, "fsync every produced batch (needs -data-dir)")
	autoCreate := flag.Bool("auto-create", false, "create unknown topics on metadata requests")
	partitions := flag.Int("partitions", 1, "default number of partitions of a new topic")
	flag.Parse()

	opts := []kfake.Opt{kfake.Ports(*port), kfake.DefaultNumPartitions(*partitions)}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	if *syncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	if *autoCreate {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfakeserve:", err)
		os.Exit(1)
	}
	fmt.Println("listening on", c.ListenAddrs()[0])

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	c.Close()
}

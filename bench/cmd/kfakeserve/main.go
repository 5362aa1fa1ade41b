// Command kfakeserve runs franz-go's kfake as a one-broker cluster in a
// process of its own, so that the peer benchmark can measure its memory and
// CPU apart from the harness's.
//
//	kfakeserve -data-dir /tmp/kfake -sync
//
// It listens on a free loopback port (never a fixed one), prints
// "listening on HOST:PORT" once it accepts connections, and stops on SIGINT
// or SIGTERM.
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
	dataDir := flag.String("data-dir", "", "persist to this directory (empty: memory only)")
	syncWrites := flag.Bool("sync", false, "fsync every produced batch (needs -data-dir)")
	flag.Parse()

	opts := []kfake.Opt{kfake.Ports(0), kfake.DefaultNumPartitions(1), kfake.AllowAutoTopicCreation()}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	if *syncWrites {
		opts = append(opts, kfake.SyncWrites())
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

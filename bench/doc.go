// Package bench measures Herald against the brokers a user would pick
// instead, on one machine and in one run.
//
// Each peer is a child process on a free loopback port with a data
// directory of its own under a temp dir, started and stopped by the
// harness; services already running on the machine are never touched. Each
// is driven by its native Go client: franz-go kgo (Herald, kfake), nats.go
// JetStream (NATS) and go-redis (Redis Streams).
//
//	cfg := bench.QuickConfig()
//	cfg.Peers = []string{"herald", "kfake-mem"}
//	res, err := bench.Run(ctx, cfg)
//	if err != nil { ... }
//	err = bench.WriteReport(res, "bench/results")
//
// The command bench/cmd/peers is the usual entry point.
package bench

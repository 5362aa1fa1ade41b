// Package cli holds the `herald` operator commands: topic, produce,
// consume, group, cluster and dlq. They talk the Kafka protocol only
// (franz-go kgo and kadm), so they work against Herald and against any
// Kafka-compatible cluster.
//
// cmd/herald adds them to its root command:
//
//	root := &cobra.Command{Use: "herald"}
//	cli.AddCommands(root)
//
// Tests and other programs can run a command line in-process with Run,
// which takes the standard streams as arguments:
//
//	var out, errOut bytes.Buffer
//	code := cli.Run(ctx, []string{"topic", "list", "--brokers", addr}, nil, &out, &errOut)
//
// Every command writes results to the command's output stream and
// progress or summaries to its error stream, so that stdout stays clean
// for pipes (`herald consume T > file`); progress bars and heartbeats are
// drawn only when that stream is a terminal. AddCommands also makes a
// mistyped verb (`herald topic lst`) fail with "unknown command" and a
// suggestion, and makes shell completion offer the broker's topic and
// group names. The CLI names itself "herald-cli" with Herald's version in
// ApiVersions (KIP-511).
package cli

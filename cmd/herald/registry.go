package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/registry"
)

// newRegistryCmd is `herald registry`: the schema registry alone, against
// any Kafka cluster (Herald, Apache Kafka, Redpanda).
func newRegistryCmd() *cobra.Command {
	var (
		brokers, listen, topic, logLevel, logFormat string
		lenient                                     bool
	)
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run the schema registry alone against any Kafka cluster",
		Long: `Run the schema registry (Confluent Schema Registry's REST API) against a
Kafka cluster, storing schemas in a compacted topic. ` + "`herald serve`" + ` already
runs one on 127.0.0.1:8081 next to its broker; use this command for a registry in
front of Apache Kafka or Redpanda.

It listens on loopback unless told otherwise (--listen :8081 is every
interface, and logs a warning: the registry has no authentication).

Flags can also be set with HERALD_* environment variables (HERALD_BROKERS)
or as keys of a YAML file given with --config, as for herald serve.`,
		Example: `  herald registry -b kafka-1:9092,kafka-2:9092 --listen 0.0.0.0:8081
  curl localhost:8081/subjects`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if printed, err := loadSettings(cmd, os.LookupEnv, cmd.OutOrStdout()); err != nil || printed {
				return err
			}
			logger, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			reg, err := startRegistry(cmd.Context(), registry.Config{
				Brokers:     splitList(brokers),
				Listen:      listen,
				Topic:       topic,
				Logger:      logger,
				LenientJSON: lenient,
			})
			if err != nil {
				return fmt.Errorf("%w (is a broker running at %s? start one with `herald serve`)", err, brokers)
			}
			<-cmd.Context().Done()
			logger.Info("shutting down")
			return reg.Close()
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&brokers, "brokers", "b", "localhost:9092", "comma-separated seed brokers")
	fl.StringVar(&listen, "listen", defaultRegistryListen, "REST API listen address")
	fl.StringVar(&topic, "topic", "_schemas", "compacted topic that stores the schemas")
	fl.BoolVar(&lenient, "lenient-json", false, "let a JSON Schema add optional properties to an open content model under BACKWARD rules")
	fl.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&logFormat, "log-format", "text", "text or json")
	addConfigFlags(cmd)
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

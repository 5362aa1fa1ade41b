package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/kafkasec"
	"github.com/heraldhq/herald/registry"
)

// newRegistryCmd is `herald registry`: the schema registry alone, against
// any Kafka cluster (Herald, Apache Kafka, Redpanda).
func newRegistryCmd() *cobra.Command {
	var (
		brokers, listen, topic, logLevel, logFormat string
		lenient                                     bool
		sec                                         httpSec
		authz                                       registryAuthz
	)
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run the schema registry alone against any Kafka cluster",
		Long: `Run the schema registry (Confluent Schema Registry's REST API) against a
Kafka cluster, storing schemas in a compacted topic. ` + "`herald serve`" + ` already
runs one on 127.0.0.1:8081 next to its broker; use this command for a registry in
front of Apache Kafka or Redpanda.

It listens on loopback unless told otherwise (--listen :8081 is every
interface, and logs a warning). Secure it with HTTPS (--registry-tls-*),
client certificates or HTTP basic auth checked against the cluster's SCRAM
users (--registry-basic-auth), and subjects authorized by their topic's ACLs
(--registry-acls). The --tls-* and --sasl-* flags secure its own Kafka
connection, as for the CLI.

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
			kafka, err := cli.SecurityConfig(cmd)
			if err != nil {
				return err
			}
			cfg := registry.Config{
				Brokers:     splitList(brokers),
				Listen:      listen,
				Topic:       topic,
				Logger:      logger,
				LenientJSON: lenient,
				Security:    kafka,
			}
			closeAuthz, err := secureRegistry(cmd.Context(), &cfg, &sec, &authz)
			if err != nil {
				return err
			}
			defer closeAuthz()
			reg, err := startRegistry(cmd.Context(), cfg)
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
	sec.register(fl, "registry", "schema registry")
	authz.register(fl)
	cli.AddSecurityFlags(fl)
	addConfigFlags(cmd)
	return cmd
}

// registryAuthz are the flags of subject authorization.
type registryAuthz struct {
	acls       bool
	superUsers []string
}

func (a *registryAuthz) register(fl *pflag.FlagSet) {
	fl.BoolVar(&a.acls, "registry-acls", false, "authorize subjects by their topic's Kafka ACLs (orders-value: topic orders; reads need DESCRIBE, writes WRITE or ALTER; other subjects the CLUSTER's DESCRIBE or ALTER); the registry's Kafka principal needs DESCRIBE on the CLUSTER")
	fl.StringSliceVar(&a.superUsers, "registry-super-users", nil, "principals allowed everything, as the brokers' super.users (User:admin), comma separated")
}

// secureRegistry sets cfg's HTTPS, authentication and authorization from
// the flags. close releases the authorizer's Kafka client.
func secureRegistry(ctx context.Context, cfg *registry.Config, sec *httpSec, authz *registryAuthz) (release func(), err error) {
	release = func() {}
	if cfg.TLS, err = sec.tlsConfig(ctx, cfg.Logger); err != nil {
		return release, err
	}
	if cfg.Authenticator, err = sec.authenticator(cfg.Brokers, cfg.Security.TLS, cfg.Logger, "schema registry"); err != nil {
		return release, err
	}
	if !authz.acls {
		return release, nil
	}
	if cfg.Authenticator == nil && sec.clientCA == "" {
		return release, errors.New("--registry-acls needs principals: --registry-basic-auth or --registry-tls-client-ca-file")
	}
	opts, err := cfg.Security.Opts()
	if err != nil {
		return release, err
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(cfg.Brokers...))...)
	if err != nil {
		return release, fmt.Errorf("registry ACLs: kafka client: %w", err)
	}
	acls, err := kafkasec.NewClusterACLs(kafkasec.ACLConfig{Client: cl, SuperUsers: authz.superUsers})
	if err != nil {
		cl.Close()
		return release, err
	}
	cfg.Authorizer = registry.TopicACLs{ACLs: acls}
	return cl.Close, nil
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

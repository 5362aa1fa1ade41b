package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/kafkasec"
)

// defaultHTTPListen is the console's address unless configured: loopback.
const defaultHTTPListen = "127.0.0.1:8080"

// newConsoleCmd is `herald console`: the web console and HTTP API alone,
// in front of any Kafka cluster.
func newConsoleCmd() *cobra.Command {
	var brokers, registryURL, listen, logLevel, logFormat string
	var traceWindow time.Duration
	var sec httpSec
	var reg kafkasec.RegistryClient
	var sources *cli.ConsoleSources
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Serve the web console and HTTP API alone, in front of any Kafka cluster",
		Long: `Serve Herald's web console (topics, messages, consumer groups, schemas), its
HTTP produce/consume API and its Server-Sent Events stream in front of a Kafka
cluster: Herald, Apache Kafka or Redpanda. It talks to the cluster only through
the Kafka protocol, and to the schema registry through its REST API.
` + "`herald serve`" + ` already serves it on 127.0.0.1:8080 next to its broker.

It listens on loopback unless told otherwise (--listen :8080 is every
interface, and logs a warning: the console can delete topics). Secure it
with HTTPS (--http-tls-*), client certificates or HTTP basic auth checked
against the cluster's SCRAM users (--http-basic-auth). The --tls-* and
--sasl-* flags secure its Kafka connection, as for the CLI, and
--registry-ca-file, --registry-username and --registry-password (env
HERALD_REGISTRY_PASSWORD) its connection to a secured registry.

Flow traces (/trace/{id}) scan the topics' last --trace-scan-window of
records for the flow's events: herald serve's correlation index is not
there to find them without a scan.

With --saga-db and --projection-db (a SQLite file or a postgres:// URL, as
for herald saga and herald projection) it adds the /sagas and
/projections pages: instances, their history and retry/abort requests;
projections' position, lag and state, and rebuild requests. The requests
are stored in those databases; the services' runners carry them out.

With --stream-app name=http://host:port (repeatable: the base URL of a
stream app's HTTP handler) it adds the /streams pages: each app's topology
drawn as a diagram, with its text description.`,
		Example: `  herald console --brokers kafka-1:9092 --registry http://localhost:8081
  herald console --brokers kafka-1:9092 --saga-db orders.db --projection-db postgres://app@db/app
  herald console --brokers kafka-1:9092 --stream-app fraud=http://fraud-1:7070
  curl -N localhost:8080/topics/orders/events?from=beginning`,
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
			cfg := console.Config{Brokers: splitList(brokers), RegistryURL: registryURL, Logger: logger, Security: kafka, Registry: reg,
				TraceScanWindow: traceWindow}
			if cfg.Authenticator, err = sec.authenticator(cfg.Brokers, kafka.TLS, logger, "console"); err != nil {
				return err
			}
			tc, err := sec.tlsConfig(cmd.Context(), logger)
			if err != nil {
				return err
			}
			stop, err := startConsole(cmd.Context(), cfg, listen, tc, sources)
			if err != nil {
				return err
			}
			<-cmd.Context().Done()
			logger.Info("shutting down")
			return stop()
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&brokers, "brokers", "b", "localhost:9092", "comma-separated seed brokers")
	fl.DurationVar(&traceWindow, "trace-scan-window", time.Hour,
		"flow traces scan the topics' records of this last while (no correlation index outside herald serve); 0 turns traces off")
	fl.StringVar(&registryURL, "registry", "", "schema registry URL (e.g. http://localhost:8081); empty hides the schema pages")
	fl.StringVar(&listen, "listen", defaultHTTPListen, "HTTP listen address")
	fl.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&logFormat, "log-format", "text", "text or json")
	fl.StringVar(&reg.TLS.CAFile, "registry-ca-file", "", "CA (PEM) that signed the registry's HTTPS certificate")
	fl.StringVar(&reg.Username, "registry-username", "", "basic auth user for the registry")
	fl.StringVar(&reg.Password, "registry-password", "", "basic auth password for the registry; prefer HERALD_REGISTRY_PASSWORD")
	sec.register(fl, "http", "console")
	sources = cli.AddConsoleSourceFlags(fl)
	cli.AddSecurityFlags(fl)
	addConfigFlags(cmd)
	return cmd
}

// startConsole serves a console on listen, with the saga and projection
// databases sources names; stop shuts it down, giving requests in flight
// a moment and then ending open event streams.
func startConsole(ctx context.Context, cfg console.Config, listen string, tc *tls.Config, sources *cli.ConsoleSources) (stop func() error, err error) {
	closeDBs, err := sources.Open(ctx, &cfg)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	c, err := console.New(cfg)
	if err != nil {
		return nil, errors.Join(err, closeDBs())
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		c.Close()
		return nil, errors.Join(fmt.Errorf("console: listen %s: %w", listen, err), closeDBs())
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	hs := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	cfg.Logger.Info("console listening", "addr", ln.Addr().String())
	if cfg.Authenticator == nil {
		server.WarnIfExposed(cfg.Logger, "console", ln.Addr())
	}
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			hs.Close() // event streams do not end by themselves
		}
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return errors.Join(err, c.Close(), closeDBs())
		}
		return errors.Join(c.Close(), closeDBs())
	}, nil
}

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/kafkasec"
	"github.com/heraldhq/herald/registry"
)

// serveFlags are `herald serve`'s settings. Every flag can also be set by
// an environment variable, HERALD_ and the flag's name in upper case with
// '-' as '_' (HERALD_DATA_DIR), or by a key of the --config file; a flag
// given on the command line wins, then the environment (see config.go).
type serveFlags struct {
	cfg            server.Config
	listeners      string
	advListeners   string
	registryListen string
	httpListen     string
	lenientJSON    bool
	logLevel       string
	logFormat      string
	registrySec    httpSec
	registryAuthz  registryAuthz
	httpSec        httpSec
	// consoleRegistry is the console's way into the registry when the
	// registry is secured.
	consoleRegistry kafkasec.RegistryClient
	// consoleSources are the saga and projection databases the console
	// shows (--saga-db, --projection-db).
	consoleSources *cli.ConsoleSources
}

func newServeCmd() *cobra.Command {
	f := &serveFlags{cfg: server.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the broker: the Kafka protocol on 127.0.0.1:9092",
		Long: `Run the broker. Any Kafka client can connect to the listen address.

Without authentication Herald listens on loopback (127.0.0.1) unless told
otherwise: --listen :9092 listens on every interface (and logs a warning),
as --registry-listen :8081 does for the schema registry.

--listeners gives several Kafka listeners in Kafka's form, each with its
protocol: PLAINTEXT, SSL (TLS, mutual TLS with --tls-client-ca-file),
SASL_PLAINTEXT and SASL_SSL (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER). The
first user of a fresh secured broker comes from --sasl-bootstrap-user with
its password in HERALD_SASL_BOOTSTRAP_PASSWORD; more with
AlterUserScramCredentials (kadm, kafka-configs.sh). SIGHUP
reloads the TLS certificate and key.

Every flag can also be set with an environment variable named HERALD_ plus
the flag name in upper case with dashes as underscores, e.g. HERALD_DATA_DIR,
or as a key of a YAML file given with --config (data-dir: /var/lib/herald).
The command line wins over the environment, which wins over the file.
--print-config prints the effective settings in that file's format.
SIGINT or SIGTERM stops accepting, finishes in-flight requests, syncs and exits.`,
		Example: `  herald serve
  herald serve --data-dir /var/lib/herald --listen 0.0.0.0:9092 --advertised-addr kafka.example.com:9092
  HERALD_SASL_BOOTSTRAP_PASSWORD=... herald serve --listeners PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9093 \
    --advertised-listeners SASL_SSL://kafka.example.com:9093 --tls-cert-file server.pem --tls-key-file server-key.pem \
    --sasl-bootstrap-user admin
  herald serve --config /etc/herald/herald.yaml
  herald serve --print-config > herald.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if printed, err := loadSettings(cmd, os.LookupEnv, cmd.OutOrStdout()); err != nil || printed {
				return err
			}
			logger, err := newLogger(f.logLevel, f.logFormat)
			if err != nil {
				return err
			}
			f.cfg.Logger = logger
			if err := f.applySecurity(os.LookupEnv); err != nil {
				return err
			}
			return runServe(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.cfg.DataDir, "data-dir", f.cfg.DataDir, "directory for topic data and metadata")
	fl.StringVar(&f.cfg.ListenAddr, "listen", f.cfg.ListenAddr, "Kafka protocol listen address (host:port)")
	fl.StringVar(&f.cfg.AdvertisedAddr, "advertised-addr", "", "host:port clients are told to connect to (default: the listen address)")
	fl.Int32Var(&f.cfg.NodeID, "node-id", f.cfg.NodeID, "this broker's node id (node.id), as Metadata, FindCoordinator and DescribeCluster name it; replica assignments must name it")
	fl.Int32Var(&f.cfg.DefaultPartitions, "default-partitions", f.cfg.DefaultPartitions, "partitions of auto-created topics and of CreateTopics with -1")
	fl.BoolVar(&f.cfg.AutoCreateTopics, "auto-create-topics", f.cfg.AutoCreateTopics, "create unknown topics when clients ask for their metadata")
	fl.StringVar(&f.cfg.Durability, "durability", f.cfg.Durability, `fsync policy: "always" (acks=all waits for fdatasync), "interval=<duration>" or "none"`)
	fl.IntVar(&f.cfg.MaxConnections, "max-connections", f.cfg.MaxConnections, "most client connections at once")
	fl.Int32Var(&f.cfg.MaxRequestBytes, "max-request-bytes", f.cfg.MaxRequestBytes, "largest request frame; larger ones close the connection")
	fl.StringVar(&f.cfg.OnCorruption, "on-corruption", f.cfg.OnCorruption,
		`what to do when background verification finds damaged log data (every batch's CRC is checked after start): "serve" keeps serving, answering fetches of the damaged offsets with CORRUPT_MESSAGE so consumers can seek past them; "stop" shuts the broker down with the report`)
	fl.Int64Var(&f.cfg.QueuedMaxRequestBytes, "queued-max-request-bytes", f.cfg.QueuedMaxRequestBytes, "request bytes held in memory across all connections; readers wait for room (queued.max.request.bytes)")
	fl.DurationVar(&f.cfg.IdleTimeout, "connections-max-idle", f.cfg.IdleTimeout, "close a connection with nothing in flight after this long without a request (connections.max.idle.ms)")
	fl.DurationVar(&f.cfg.RequestReadTimeout, "request-read-timeout", f.cfg.RequestReadTimeout, "close a connection whose request frame has started but not arrived within this")
	fl.Int32Var(&f.cfg.FetchMaxBytes, "fetch-max-bytes", f.cfg.FetchMaxBytes, "most record bytes in one fetch response, whatever the client asks (fetch.max.bytes)")
	fl.IntVar(&f.cfg.MaxFetchSessions, "max-fetch-sessions", f.cfg.MaxFetchSessions, "incremental fetch sessions (KIP-227) kept at once; -1 turns them off (max.incremental.fetch.session.cache.slots)")
	fl.IntVar(&f.cfg.AutoCreatePerRequest, "auto-create-per-request", f.cfg.AutoCreatePerRequest, "most topics one Metadata request may auto-create")
	fl.IntVar(&f.cfg.AutoCreatePerSecond, "auto-create-per-second", f.cfg.AutoCreatePerSecond, "most topics auto-created a second (and burst)")
	fl.IntVar(&f.cfg.MaxDecompressedBytes, "max-decompressed-bytes", f.cfg.MaxDecompressedBytes, "largest decompressed records section of one batch; larger batches are refused INVALID_RECORD")
	fl.DurationVar(&f.cfg.Groups.Group.InitialRebalanceDelay, "group-initial-rebalance-delay", f.cfg.Groups.Group.InitialRebalanceDelay,
		"how long a new consumer group's first rebalance waits for more members, extended at each join up to the rebalance timeout (group.initial.rebalance.delay.ms); 0 forms it at the first join")
	fl.StringVar(&f.cfg.AuthorizerKind, "authorizer", f.cfg.AuthorizerKind, `"none" (everything allowed) or "acl": Kafka ACLs (herald acl add|list|remove), default deny`)
	fl.StringVar(&f.cfg.SuperUsers, "super-users", f.cfg.SuperUsers, `principals allowed everything under --authorizer acl, e.g. "User:admin;User:ops" (super.users)`)
	fl.BoolVar(&f.cfg.AllowIfNoACL, "allow-if-no-acl", f.cfg.AllowIfNoACL, "under --authorizer acl, allow actions on resources no ACL names (allow.everyone.if.no.acl.found)")
	addSecurityFlags(fl, f)
	fl.BoolVar(&f.cfg.CorrelationIndex, "correlation-index", f.cfg.CorrelationIndex,
		"index every record's CloudEvents correlation and event ids (a pebble store in the data dir, fed in the background) for the console's flow traces")
	fl.StringVar(&f.registryListen, "registry-listen", defaultRegistryListen, `schema registry (Confluent REST API) listen address; "" turns it off`)
	fl.StringVar(&f.httpListen, "http-listen", defaultHTTPListen, `web console, HTTP API and health checks listen address; "" turns it off`)
	f.consoleSources = cli.AddConsoleSourceFlags(fl)
	fl.BoolVar(&f.lenientJSON, "registry-lenient-json", false, "let a JSON Schema add optional properties to an open content model under BACKWARD rules")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
	f.registrySec.register(fl, "registry", "schema registry")
	f.registryAuthz.register(fl)
	f.httpSec.register(fl, "http", "console")
	fl.StringVar(&f.consoleRegistry.Username, "http-registry-username", "", "the console's basic auth user for the registry, with --registry-basic-auth")
	fl.StringVar(&f.consoleRegistry.Password, "http-registry-password", "", "its password; prefer HERALD_HTTP_REGISTRY_PASSWORD")
	addConfigFlags(cmd)
	return cmd
}

// defaultRegistryListen is the schema registry's address unless
// configured: loopback, as the broker's.
const defaultRegistryListen = "127.0.0.1:8081"

// applyEnv sets every flag not given on the command line from its
// HERALD_* environment variable.
func applyEnv(fl *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var err error
	fl.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := "HERALD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := lookup(name)
		if !ok {
			return
		}
		if serr := fl.Set(f.Name, v); serr != nil {
			err = fmt.Errorf("%s=%q: %w", name, v, serr)
		}
	})
	return err
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// runServe runs the broker, and the schema registry and the console on top of it, until
// ctx is done (SIGINT or SIGTERM), then shuts both down gracefully.
func runServe(ctx context.Context, f *serveFlags) error {
	cfg := f.cfg
	cfg.InternalClients = f.registryListen != "" || f.httpListen != ""
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		return err
	}
	stopHUP := reloadOnSIGHUP(srv, cfg.Logger)
	defer stopHUP()
	// The registry and console reach the broker through a PLAINTEXT
	// listener, or with ACLs on or none of those, through the internal
	// listener as the internal user (internal/server/internal_client.go).
	seed, internalSec, _ := srv.InternalClient()
	f.registrySec.local = storeAuthenticator{srv.Credentials()}
	f.httpSec.local = storeAuthenticator{srv.Credentials()}
	var reg *registry.Server
	if f.registryListen != "" {
		rcfg := registry.Config{
			Brokers:     []string{dialable(seed)},
			Security:    internalSec,
			Listen:      f.registryListen,
			Logger:      cfg.Logger.With("component", "registry"),
			LenientJSON: f.lenientJSON,
		}
		release, err := secureRegistry(ctx, &rcfg, &f.registrySec, &f.registryAuthz)
		if err == nil {
			defer release()
			reg, err = startRegistry(ctx, rcfg)
		}
		if err != nil {
			srv.Close()
			return err
		}
		srv.SetSchemaValidator(reg.Validator())
	}
	stopConsole := func() error { return nil }
	if f.httpListen != "" {
		ccfg, tc, err := serveConsoleConfig(ctx, f, srv, reg)
		if err == nil {
			stopConsole, err = startConsole(ctx, ccfg, f.httpListen, tc, f.consoleSources)
		}
		if err != nil {
			if reg != nil {
				reg.Close()
			}
			srv.Close()
			return err
		}
	}
	var failed error
	select {
	case <-ctx.Done():
	case failed = <-srv.Failed():
	}
	cfg.Logger.Info("shutting down")
	cerr := stopConsole()
	if reg != nil {
		reg.Close()
	}
	return errors.Join(failed, cerr, srv.Close())
}

// startRegistry reads the registry's topic back and starts serving.
func startRegistry(ctx context.Context, cfg registry.Config) (*registry.Server, error) {
	reg, err := registry.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	if err := reg.Start(); err != nil {
		reg.Close()
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	cfg.Logger.Info("schema registry listening", "addr", reg.Addr().String())
	if cfg.Authenticator == nil {
		server.WarnIfExposed(cfg.Logger, "schema registry", reg.Addr())
	}
	return reg, nil
}

// dialable turns a listener address such as [::]:9092 into one a client
// on this machine can dial.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// serveConsoleConfig is the console's configuration in `herald serve`:
// the broker beside it, the registry beside it (over HTTPS, trusting the
// registry's own certificate, when the registry serves TLS), and its
// listener's TLS and authentication.
func serveConsoleConfig(ctx context.Context, f *serveFlags, srv *server.Server, reg *registry.Server) (console.Config, *tls.Config, error) {
	logger := f.cfg.Logger.With("component", "console")
	seed, internalSec, _ := srv.InternalClient()
	ccfg := console.Config{Brokers: []string{dialable(seed)}, Security: internalSec, Logger: logger, Registry: f.consoleRegistry}
	if reg != nil {
		ccfg.RegistryURL = "http://" + dialable(reg.Addr().String())
		if f.registrySec.on() {
			name, err := certName(f.registrySec.cert)
			if err != nil {
				return ccfg, nil, err
			}
			ccfg.RegistryURL = "https://" + dialable(reg.Addr().String())
			ccfg.Registry.TLS = kafkasec.TLS{CAFile: f.registrySec.cert, ServerName: name}
		}
	}
	ccfg.Tracer = srv.Tracer()
	var extra []prometheus.Collector
	if reg != nil {
		extra = append(extra, reg.Collector())
	}
	var err error
	if ccfg.Metrics, err = srv.Metrics(extra...); err != nil {
		return ccfg, nil, err
	}
	if ccfg.Authenticator, err = f.httpSec.authenticator(ccfg.Brokers, kafkasec.TLS{}, logger, "console"); err != nil {
		return ccfg, nil, err
	}
	tc, err := f.httpSec.tlsConfig(ctx, logger)
	return ccfg, tc, err
}

// certName is a name the leaf certificate in file is valid for, to
// verify it by when dialling it on loopback.
func certName(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return "", fmt.Errorf("%s holds no PEM certificate", file)
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	switch {
	case len(leaf.DNSNames) > 0:
		return leaf.DNSNames[0], nil
	case len(leaf.IPAddresses) > 0:
		return leaf.IPAddresses[0].String(), nil
	}
	return leaf.Subject.CommonName, nil
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/internal/buildinfo"
	"github.com/heraldhq/herald/kafkasec"
)

// defaultBrokers is used when neither --brokers nor HERALD_BROKERS is set.
const defaultBrokers = "localhost:9092"

// clientSoftwareName is the CLI's ClientSoftwareName in ApiVersions.
const clientSoftwareName = "herald-cli"

// brokersEnv overrides the default seed brokers; --brokers overrides it.
const brokersEnv = "HERALD_BROKERS"

// conn is the connection settings shared by every command that talks to
// a cluster.
type conn struct {
	brokers []string
	sec     secFlags         // bound to the flags; read through security
	secured *kafkasec.Config // resolved once: the password prompt comes once
}

// security is the command's resolved security settings.
func (c *conn) security(cmd *cobra.Command) (kafkasec.Config, error) {
	if c.secured != nil {
		return *c.secured, nil
	}
	sec, err := securityConfig(cmd, true)
	if err != nil {
		return sec, err
	}
	c.secured = &sec
	return sec, nil
}

// addConnFlags registers --brokers and the --tls-* and --sasl-* flags on cmd. persistent makes it apply to
// the subcommands of a noun (topic, group, ...).
func addConnFlags(cmd *cobra.Command, c *conn, persistent bool) {
	fl := cmd.Flags()
	if persistent {
		fl = cmd.PersistentFlags()
	}
	fl.StringSliceVarP(&c.brokers, "brokers", "b", []string{defaultBrokers},
		"seed brokers, host:port, comma separated (env "+brokersEnv+")")
	c.sec.register(fl)
}

// seeds returns the seed brokers: --brokers if given, else HERALD_BROKERS,
// else localhost:9092.
func (c *conn) seeds(cmd *cobra.Command) []string {
	if f := cmd.Flags().Lookup("brokers"); f != nil && f.Changed {
		return c.brokers
	}
	if v := strings.TrimSpace(os.Getenv(brokersEnv)); v != "" {
		return strings.Split(v, ",")
	}
	return c.brokers
}

// client checks that a seed broker answers, then returns a client for
// the seeds. The check turns the first, most common failure (nothing is
// listening) into a message that says what to do, instead of kgo's
// retries ending in a generic dial error.
func (c *conn) client(cmd *cobra.Command, opts ...kgo.Opt) (*kgo.Client, error) {
	seeds := c.seeds(cmd)
	sec, err := c.security(cmd)
	if err != nil {
		return nil, err
	}
	secOpts, err := sec.Opts()
	if err != nil {
		return nil, err
	}
	if err := probe(cmd.Context(), seeds); err != nil {
		return nil, err
	}
	opts = append(append(secOpts,
		kgo.SeedBrokers(seeds...),
		kgo.RetryTimeout(15*time.Second),
		// ApiVersions v3+ carries the client's name and version (KIP-511);
		// brokers show them in their connection logs and metrics.
		kgo.SoftwareNameAndVersion(clientSoftwareName, buildinfo.Read().Software()),
	), opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", strings.Join(seeds, ","), err)
	}
	if sec.TLS.On() || sec.SASL.Mechanism != "" {
		if err := checkSecured(cmd.Context(), cl, sec, seeds); err != nil {
			cl.Close()
			return nil, err
		}
	}
	return cl, nil
}

// admin returns a kgo client and an admin client on it; closing the admin
// client closes both.
func (c *conn) admin(cmd *cobra.Command) (*kadm.Client, error) {
	cl, err := c.client(cmd)
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// batchAdmin runs one admin call over several items (topics, groups) and
// prints a result per item; op returns them. An error of the whole call is
// wrapped with action.
func (c *conn) batchAdmin(cmd *cobra.Command, format, what, action string,
	op func(ctx context.Context, adm *kadm.Client) ([]itemResult, error)) error {
	adm, err := c.admin(cmd)
	if err != nil {
		return err
	}
	defer adm.Close()
	stop := heartbeat(cmd.ErrOrStderr(), action)
	rs, err := op(cmd.Context(), adm)
	stop()
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	return emitResults(cmd.OutOrStdout(), format, what, rs)
}

// probe dials the seeds in order and returns nil at the first that
// accepts a connection, else an error naming the address that failed.
func probe(ctx context.Context, seeds []string) error {
	var first error
	for _, s := range seeds {
		d := net.Dialer{Timeout: 5 * time.Second}
		nc, err := d.DialContext(ctx, "tcp", s)
		if err == nil {
			nc.Close()
			return nil
		}
		if first == nil {
			first = dialError(s, err)
		}
	}
	if first == nil {
		return errors.New("no brokers given: set --brokers or " + brokersEnv)
	}
	return first
}

// NoBrokerError is returned when no seed broker accepts a connection.
type NoBrokerError struct {
	Addr string // the first seed tried
	Err  error  // the dial error
}

func (e *NoBrokerError) Error() string {
	if errors.Is(e.Err, syscall.ECONNREFUSED) {
		return fmt.Sprintf("connection refused: is a broker running at %s? start one with `herald serve`", e.Addr)
	}
	return fmt.Sprintf("cannot reach a broker at %s: %v", e.Addr, e.Err)
}

func (e *NoBrokerError) Unwrap() error { return e.Err }

func dialError(addr string, err error) error { return &NoBrokerError{Addr: addr, Err: err} }

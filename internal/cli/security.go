package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/term"

	"github.com/heraldhq/herald/kafkasec"
)

// secFlags are the --tls-* and --sasl-* flags of every client command.
// Each has an environment variable, HERALD_ and its name in upper case
// (kafkasec's Env* constants); a flag given wins.
type secFlags struct {
	tlsEnabled, tlsSkipVerify                    bool
	tlsCA, tlsCert, tlsKey, tlsServerName        string
	saslMechanism, saslUser, saslPass, saslToken string
}

func (s *secFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&s.tlsEnabled, "tls-enabled", false, "connect with TLS, verifying brokers against the system's roots (env "+kafkasec.EnvTLSEnabled+")")
	fl.StringVar(&s.tlsCA, "tls-ca-file", "", "PEM CA that signed the brokers' certificates; turns TLS on (env "+kafkasec.EnvTLSCAFile+")")
	fl.StringVar(&s.tlsCert, "tls-cert-file", "", "client certificate (PEM) for mutual TLS (env "+kafkasec.EnvTLSCertFile+")")
	fl.StringVar(&s.tlsKey, "tls-key-file", "", "the client certificate's key (PEM) (env "+kafkasec.EnvTLSKeyFile+")")
	fl.BoolVar(&s.tlsSkipVerify, "tls-insecure-skip-verify", false, "accept any broker certificate; for tests only (env "+kafkasec.EnvTLSInsecureSkipVerify+")")
	fl.StringVar(&s.tlsServerName, "tls-server-name", "", "name to verify in the brokers' certificates instead of the dialled host (env "+kafkasec.EnvTLSServerName+")")
	fl.StringVar(&s.saslMechanism, "sasl-mechanism", "", "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (env "+kafkasec.EnvSASLMechanism+")")
	fl.StringVar(&s.saslUser, "sasl-username", "", "SASL user name (env "+kafkasec.EnvSASLUsername+")")
	fl.StringVar(&s.saslPass, "sasl-password", "", "SASL password; prefer the environment or the prompt, a flag shows in ps and shell history (env "+kafkasec.EnvSASLPassword+")")
	fl.StringVar(&s.saslToken, "sasl-oauth-token-file", "", "file holding the OAUTHBEARER token, read at each authentication (env "+kafkasec.EnvSASLOAuthTokenFile+")")
}

// securityConfig is the environment's settings overridden by the flags
// given on cmd. With prompt, a PLAIN or SCRAM user without a password is
// asked for one on the terminal; without a terminal it is an error.
func securityConfig(cmd *cobra.Command, prompt bool) (kafkasec.Config, error) {
	c, err := kafkasec.FromEnv(os.LookupEnv)
	if err != nil {
		return c, err
	}
	fl := cmd.Flags()
	str := func(name string, dst *string) {
		if fl.Changed(name) {
			*dst, _ = fl.GetString(name)
		}
	}
	boolean := func(name string, dst *bool) {
		if fl.Changed(name) {
			*dst, _ = fl.GetBool(name)
		}
	}
	boolean("tls-enabled", &c.TLS.Enabled)
	boolean("tls-insecure-skip-verify", &c.TLS.InsecureSkipVerify)
	str("tls-ca-file", &c.TLS.CAFile)
	str("tls-cert-file", &c.TLS.CertFile)
	str("tls-key-file", &c.TLS.KeyFile)
	str("tls-server-name", &c.TLS.ServerName)
	str("sasl-mechanism", &c.SASL.Mechanism)
	str("sasl-username", &c.SASL.Username)
	str("sasl-password", &c.SASL.Password)
	str("sasl-oauth-token-file", &c.SASL.TokenFile)
	if fl.Changed("sasl-oauth-token-file") {
		c.SASL.Token = "" // the flag wins over HERALD_SASL_OAUTH_TOKEN
	}
	if !prompt {
		return c, nil
	}
	if fl.Changed("sasl-password") {
		fmt.Fprintln(cmd.ErrOrStderr(), "herald: warning: --sasl-password shows in the process list and shell history; prefer "+kafkasec.EnvSASLPassword+" or the prompt")
	}
	if needsPassword(c.SASL) {
		if c.SASL.Password, err = promptPassword(cmd, "Password for "+c.SASL.Username+": "); err != nil {
			return c, err
		}
	}
	return c, nil
}

func needsPassword(s kafkasec.SASL) bool {
	switch strings.ToUpper(s.Mechanism) {
	case kafkasec.PLAIN, kafkasec.SCRAMSHA256, kafkasec.SCRAMSHA512:
		return s.Username != "" && s.Password == ""
	}
	return false
}

// promptPassword reads a password from the terminal without echoing it.
// Without a terminal on stdin (a pipe, a test) it fails: stdin may be a
// command's data.
func promptPassword(cmd *cobra.Command, prompt string) (string, error) {
	f, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no SASL password: set " + kafkasec.EnvSASLPassword + " (or --sasl-password), or run on a terminal to be asked")
	}
	fmt.Fprint(cmd.ErrOrStderr(), prompt)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	return string(b), nil
}

// checkSecured asks a broker for metadata once, so that a TLS or SASL
// failure is reported as what it is before a command starts, instead of
// as kgo's retries ending in a bare EOF.
func checkSecured(ctx context.Context, cl *kgo.Client, sec kafkasec.Config, seeds []string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err == nil {
		return nil
	}
	return explainSecurityError(err, sec, strings.Join(seeds, ","))
}

// explainSecurityError names the likely cause of a failure to talk to a
// secured cluster.
func explainSecurityError(err error, sec kafkasec.Config, seeds string) error {
	mech := strings.ToUpper(sec.SASL.Mechanism)
	who := sec.SASL.Username
	if mech == kafkasec.OAUTHBEARER {
		who = "the OAUTHBEARER token's subject"
	}
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return fmt.Errorf("authentication failed: %s as %q at %s: check the user name, password and mechanism: %w", mech, who, seeds, err)
	case errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		return fmt.Errorf("the brokers at %s do not accept SASL %s: %w", seeds, mech, err)
	case mech != "" && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		// Some brokers close the connection on bad credentials instead
		// of answering SASL_AUTHENTICATION_FAILED.
		return fmt.Errorf("authentication failed: the brokers at %s closed the connection while authenticating %q with %s: check the user name, password and mechanism (and --tls-* if the listener is SASL_SSL): %w", seeds, who, mech, err)
	case strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:"):
		return fmt.Errorf("TLS with the brokers at %s failed: %w", seeds, err)
	case sec.TLS.On() && errors.Is(err, io.EOF):
		return fmt.Errorf("the brokers at %s closed the TLS connection: is the listener TLS, and does it want a client certificate (--tls-cert-file)? %w", seeds, err)
	}
	return err
}

// AddSecurityFlags registers the --tls-* and --sasl-* flags of a Kafka
// client on fl, for the long-running commands (herald registry, herald
// console) whose Kafka connection takes the same settings as the CLI's.
func AddSecurityFlags(fl *pflag.FlagSet) {
	(&secFlags{}).register(fl)
}

// SecurityConfig is the Kafka client security of cmd's flags registered
// by AddSecurityFlags, over the HERALD_TLS_* and HERALD_SASL_*
// variables. It never prompts: a server has no terminal to ask on.
func SecurityConfig(cmd *cobra.Command) (kafkasec.Config, error) {
	sec, err := securityConfig(cmd, false)
	if err != nil {
		return sec, err
	}
	return sec, sec.Validate()
}

package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/internal/server"
)

// addSecurityFlags adds the listener, TLS and SASL flags of `herald
// serve`.
func addSecurityFlags(fl *pflag.FlagSet, f *serveFlags) {
	c := &f.cfg
	fl.StringVar(&f.listeners, "listeners", "", "Kafka listeners, PROTOCOL://host:port,... with PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (NAME:PROTOCOL://... names a second one); replaces --listen")
	fl.StringVar(&f.advListeners, "advertised-listeners", "", "what Metadata tells the clients of each listener, PROTOCOL://host:port,... by listener name (default: each listener's address)")
	fl.StringVar(&c.TLS.CertFile, "tls-cert-file", "", "PEM certificate chain of SSL and SASL_SSL listeners; reloaded when it changes and on SIGHUP")
	fl.StringVar(&c.TLS.KeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	fl.StringVar(&c.TLS.ClientCAFile, "tls-client-ca-file", "", "PEM CA certificates that verify client certificates (mutual TLS); the principal is User:<the certificate's subject DN>")
	fl.StringVar(&c.TLS.ClientAuth, "tls-client-auth", "", `client certificates: "none", "requested" or "required" (default "required" with --tls-client-ca-file, else "none")`)
	fl.DurationVar(&c.TLS.ReloadInterval, "tls-reload-interval", server.DefaultTLSReloadInterval, "how often the TLS files are checked for changes; -1s never (SIGHUP still reloads)")
	fl.StringSliceVar(&c.SASL.Mechanisms, "sasl-enabled-mechanisms", nil, "SASL mechanisms of SASL_* listeners (default PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, and OAUTHBEARER with --sasl-oauthbearer-jwks)")
	fl.DurationVar(&c.SASL.SessionLifetime, "sasl-session-lifetime", 0, "clients must re-authenticate within this (connections.max.reauth.ms, KIP-368); 0 never, unless an OAUTHBEARER token expires")
	fl.DurationVar(&c.SASL.FailedAuthDelay, "sasl-failed-auth-delay", 100*time.Millisecond, "delay before answering a failed authentication, after which the connection closes (connection.failed.authentication.delay.ms)")
	fl.Float64Var(&c.SASL.FailedAuthPerSecond, "sasl-failed-auth-per-second", 10, "failed authentications a client host may make a second (burst five seconds' worth); beyond, its logins are refused without checking until the bound refills; -1 no bound")
	fl.StringVar(&c.SASL.OAuth.JWKS, "sasl-oauthbearer-jwks", "", "JWKS file or http(s) URL whose keys sign OAUTHBEARER tokens; enables OAUTHBEARER")
	fl.StringVar(&c.SASL.OAuth.Issuer, "sasl-oauthbearer-issuer", "", "required iss of OAUTHBEARER tokens")
	fl.StringVar(&c.SASL.OAuth.Audience, "sasl-oauthbearer-audience", "", "required aud of OAUTHBEARER tokens")
	fl.StringVar(&c.SASL.OAuth.PrincipalClaim, "sasl-oauthbearer-principal-claim", "sub", "the OAUTHBEARER token claim that names the user")
	fl.StringVar(&c.SASL.BootstrapUser, "sasl-bootstrap-user", "", "create this SCRAM user at start, when it has no credentials, with the password in HERALD_SASL_BOOTSTRAP_PASSWORD")
}

// applySecurity turns the listener flags into server listeners and reads
// the bootstrap password from the environment (never a flag, so that it
// does not show in ps).
func (f *serveFlags) applySecurity(lookup func(string) (string, bool)) error {
	if f.listeners != "" {
		ls, err := server.ParseListeners(f.listeners, f.advListeners)
		if err != nil {
			return err
		}
		f.cfg.Listeners = ls
	}
	if f.cfg.SASL.BootstrapUser != "" {
		f.cfg.SASL.BootstrapPassword, _ = lookup("HERALD_SASL_BOOTSTRAP_PASSWORD")
	}
	return nil
}

// reloadOnSIGHUP reloads the broker's TLS files on SIGHUP until stop.
func reloadOnSIGHUP(srv *server.Server, logger *slog.Logger) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-ch:
				changed, err := srv.ReloadTLS()
				switch {
				case err != nil:
					logger.Error("SIGHUP: tls reload failed; keeping the previous certificate", "err", err)
				case changed:
					logger.Info("SIGHUP: tls certificate reloaded")
				default:
					logger.Info("SIGHUP: tls files unchanged")
				}
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/tlsconf"
	"github.com/heraldhq/herald/kafkasec"
)

// httpSec is how one HTTP listener (the registry's or the console's) is
// secured: TLS from certificate files, reloaded when they change or on
// SIGHUP; optional client certificates (mutual TLS); HTTP basic auth
// checked against the Kafka cluster's users. Its flags are
// --<prefix>-tls-cert-file, --<prefix>-tls-key-file,
// --<prefix>-tls-client-ca-file, --<prefix>-tls-client-auth and
// --<prefix>-basic-auth.
type httpSec struct {
	prefix              string
	cert, key, clientCA string
	clientAuth          string
	basicAuth           bool
	// local, when set, checks basic auth instead of a login to the
	// cluster: herald serve sets it to its broker's credential store.
	local kafkasec.Authenticator
}

func (h *httpSec) register(fl *pflag.FlagSet, prefix, what string) {
	h.prefix = prefix
	fl.StringVar(&h.cert, prefix+"-tls-cert-file", "", what+": serve HTTPS with this certificate (PEM), reloaded when it changes or on SIGHUP")
	fl.StringVar(&h.key, prefix+"-tls-key-file", "", what+": the certificate's key (PEM)")
	fl.StringVar(&h.clientCA, prefix+"-tls-client-ca-file", "", what+": verify client certificates (mutual TLS) against this CA (PEM); the principal is the certificate's subject")
	fl.StringVar(&h.clientAuth, prefix+"-tls-client-auth", "require", what+`: with a client CA, "require" a client certificate or make it "optional" (then basic auth is the other way in)`)
	fl.BoolVar(&h.basicAuth, prefix+"-basic-auth", false, what+": require HTTP basic auth, checked against the Kafka cluster's SASL/SCRAM users (use with TLS: basic auth sends the password)")
}

// on reports whether the listener serves HTTPS.
func (h *httpSec) on() bool { return h.cert != "" || h.key != "" }

// tlsConfig is the listener's TLS configuration, nil without a
// certificate. It reloads the files every 10s until ctx ends, and on
// SIGHUP.
func (h *httpSec) tlsConfig(ctx context.Context, logger *slog.Logger) (*tls.Config, error) {
	if !h.on() {
		if h.clientCA != "" {
			return nil, fmt.Errorf("--%s-tls-client-ca-file needs --%s-tls-cert-file and --%s-tls-key-file", h.prefix, h.prefix, h.prefix)
		}
		return nil, nil
	}
	f := tlsconf.Files{Cert: h.cert, Key: h.key, ClientCA: h.clientCA}
	switch h.clientAuth {
	case "require":
		f.ClientAuth = tls.RequireAndVerifyClientCert
	case "optional":
		f.ClientAuth = tls.VerifyClientCertIfGiven
	default:
		return nil, fmt.Errorf("--%s-tls-client-auth %q: want require or optional", h.prefix, h.clientAuth)
	}
	r, err := tlsconf.NewReloader(f, logger)
	if err != nil {
		return nil, fmt.Errorf("--%s-tls-*: %w", h.prefix, err)
	}
	go r.Watch(ctx, 10*time.Second)
	go reloadOnHUP(ctx, r, logger)
	return r.ServerConfig(), nil
}

// reloadOnHUP reloads r at each SIGHUP until ctx ends.
func reloadOnHUP(ctx context.Context, r *tlsconf.Reloader, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if _, err := r.Reload(); err != nil {
				logger.Error("tls reload on SIGHUP failed; keeping the previous certificate", "err", err)
			}
		}
	}
}

// authenticator checks basic auth users against the cluster at brokers,
// reached with transport; nil without --<prefix>-basic-auth.
func (h *httpSec) authenticator(brokers []string, transport kafkasec.TLS, logger *slog.Logger, what string) (kafkasec.Authenticator, error) {
	if !h.basicAuth {
		return nil, nil
	}
	if !h.on() {
		logger.Warn(what + ": basic auth without TLS sends passwords in clear; set --" + h.prefix + "-tls-cert-file and --" + h.prefix + "-tls-key-file")
	}
	if h.local != nil {
		return h.local, nil
	}
	a, err := kafkasec.NewClusterAuthenticator(kafkasec.ClusterAuthConfig{Brokers: brokers, TLS: transport})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("--%s-basic-auth", h.prefix), err)
	}
	return a, nil
}

// storeAuthenticator checks basic-auth users against the in-process
// broker's SCRAM credentials. herald serve's registry and console reach
// their broker over its PLAINTEXT listener, where no SASL login can
// check a password, and the store is right there. Each check costs one
// PBKDF2 derivation (milliseconds).
type storeAuthenticator struct{ s *auth.Store }

// Authenticate implements kafkasec.Authenticator.
func (a storeAuthenticator) Authenticate(_ context.Context, user, password string) (string, error) {
	p, err := a.s.Verify(user, password)
	if err != nil {
		return "", fmt.Errorf("%w: %w", kafkasec.ErrBadCredentials, err)
	}
	return p.String(), nil
}

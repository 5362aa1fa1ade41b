package server

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/kafka"
	"github.com/heraldhq/herald/internal/tlsconf"
)

// DefaultTLSReloadInterval is how often the TLS files are checked for
// changes unless configured.
const DefaultTLSReloadInterval = 30 * time.Second

// openSecurity opens the credential store (always: AlterUserScramCredentials
// works on any broker), creates the bootstrap user, and builds the SASL
// authenticator and the TLS reloader the listeners need.
func (s *Server) openSecurity() error {
	s.creds = auth.NewStore(s.b.ScramCredentials(), s.b.AppendScram)
	sc := s.cfg.SASL
	if sc.BootstrapUser != "" {
		created, err := s.creds.Bootstrap(sc.BootstrapUser, sc.BootstrapPassword)
		if err != nil {
			return err
		}
		if created {
			s.logger.Info("sasl bootstrap user created", "user", sc.BootstrapUser)
		}
	}
	ls := s.cfg.listeners()
	needSASL := slices.ContainsFunc(ls, func(l Listener) bool { return l.Protocol == kafka.SASLPlaintext || l.Protocol == kafka.SASLSSL })
	if needSASL || len(sc.Mechanisms) > 0 {
		var v *auth.OAuthValidator
		if sc.OAuth.JWKS != "" {
			oc := sc.OAuth
			if oc.Logger == nil {
				oc.Logger = s.logger
			}
			var err error
			if v, err = auth.NewOAuthValidator(oc); err != nil {
				return err
			}
		}
		a, err := auth.NewAuthenticator(s.creds, v, sc.Mechanisms)
		if err != nil {
			return err
		}
		s.sasl = a
	}
	needTLS := slices.ContainsFunc(ls, func(l Listener) bool { return l.Protocol == kafka.SSL || l.Protocol == kafka.SASLSSL })
	if needTLS || s.cfg.TLS.CertFile != "" {
		f, err := s.cfg.TLS.files()
		if err != nil {
			return err
		}
		if s.tls, err = tlsconf.NewReloader(f, s.logger); err != nil {
			return err
		}
	}
	return nil
}

// watchTLS checks the TLS files for changes every ReloadInterval until
// the returned stop is called.
func (s *Server) watchTLS() (stop func()) {
	every := s.cfg.TLS.ReloadInterval
	if every == 0 {
		every = DefaultTLSReloadInterval
	}
	if s.tls == nil || every < 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.tls.Watch(ctx, every)
	}()
	return func() { cancel(); <-done }
}

// ReloadTLS reads the TLS certificate, key and client CA files again
// (SIGHUP); new connections get the new certificate. On error the old
// one stays. It reports whether anything changed.
func (s *Server) ReloadTLS() (bool, error) {
	if s.tls == nil {
		return false, nil
	}
	changed, err := s.tls.Reload()
	if err != nil {
		return false, fmt.Errorf("reload tls: %w", err)
	}
	return changed, nil
}

// Credentials is the users' SCRAM credential store: Verify checks a
// user's password, for the HTTP side's basic auth.
func (s *Server) Credentials() *auth.Store { return s.creds }

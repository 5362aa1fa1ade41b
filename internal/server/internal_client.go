package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/kafka"
	"github.com/heraldhq/herald/kafkasec"
)

// The in-process clients' listener and principal. herald serve's schema
// registry and console are Kafka clients of their own broker. Without
// ACLs they use a PLAINTEXT listener as any local tool does; with ACLs
// on (User:ANONYMOUS may do nothing) or with no PLAINTEXT listener they
// go through a listener of their own instead:
//
//   - HERALD_INTERNAL, SASL_PLAINTEXT on 127.0.0.1 and a free port;
//   - the user __herald_internal, whose SCRAM credential is made at every
//     start from a random password that lives only in the process (the
//     metadata log keeps its salted hash, replaced at the next start, so
//     an old password never works again);
//   - a super user under --authorizer acl.
//
// Any local process may reach the port, but not without the password.
const (
	internalListener = "HERALD_INTERNAL"
	internalUser     = "__herald_internal"
)

// wantsInternal reports whether cfg's in-process clients need the
// internal listener.
func (cfg *Config) wantsInternal() bool {
	if !cfg.InternalClients {
		return false
	}
	plain := slices.ContainsFunc(cfg.listeners(), func(l Listener) bool { return l.Protocol == kafka.Plaintext })
	return cfg.AuthorizerKind == "acl" || !plain
}

// addInternalListener adds the internal listener to cfg's listeners.
func (cfg *Config) addInternalListener() {
	cfg.Listeners = append(cfg.listeners(), Listener{Name: internalListener, Protocol: kafka.SASLPlaintext, Addr: "127.0.0.1:0"})
}

// internalPrincipal is the in-process clients' principal.
var internalPrincipal = access.Principal{Type: "User", Name: internalUser}

// internalMechanism is the SASL mechanism the in-process clients use:
// SCRAM-SHA-512 unless the operator's --sasl-enabled-mechanisms leaves it
// out.
func (cfg *Config) internalMechanism() (string, error) {
	ms := cfg.SASL.Mechanisms
	if len(ms) == 0 {
		return auth.ScramSHA512, nil
	}
	for _, m := range []string{auth.ScramSHA512, auth.ScramSHA256, auth.Plain} {
		if slices.Contains(ms, m) {
			return m, nil
		}
	}
	return "", errors.New("the in-process schema registry and console log in with SCRAM or PLAIN: enable one in --sasl-enabled-mechanisms, or turn them off")
}

// makeInternalUser gives the internal user a new random password.
func (s *Server) makeInternalUser() error {
	mech, err := s.cfg.internalMechanism()
	if err != nil {
		return err
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	pass := hex.EncodeToString(b)
	for _, m := range []string{auth.ScramSHA256, auth.ScramSHA512} {
		c, err := auth.NewCredential(internalUser, m, pass, auth.DefaultIterations)
		if err != nil {
			return err
		}
		if err := s.creds.Set(c); err != nil {
			return err
		}
	}
	s.internal = &kafkasec.Config{SASL: kafkasec.SASL{Mechanism: mech, Username: internalUser, Password: pass}}
	return nil
}

// InternalClient is how the in-process schema registry and console reach
// this broker: the seed address and the security settings for it (none
// on a PLAINTEXT listener). ok is false when neither is available (no
// PLAINTEXT listener and Config.InternalClients off).
func (s *Server) InternalClient() (seed string, sec kafkasec.Config, ok bool) {
	if s.internal != nil {
		if a := s.ListenerAddr(internalListener); a != nil {
			return a.String(), *s.internal, true
		}
		return "", kafkasec.Config{}, false
	}
	if a := s.PlaintextAddr(); a != nil {
		return a.String(), kafkasec.Config{}, true
	}
	return "", kafkasec.Config{}, false
}

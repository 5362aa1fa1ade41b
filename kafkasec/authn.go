package kafkasec

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Authenticator checks a user name and password, for HTTP basic auth on
// the schema registry and the console.
//
// Authenticate returns the principal the credentials prove, in Kafka's
// form ("User:alice"). It returns an error wrapping ErrBadCredentials
// when the user does not exist or the password is wrong, and any other
// error when it could not decide (the cluster is unreachable): the HTTP
// servers answer 401 to the first and 503 to the second. It must be
// safe for concurrent use and must not keep the password.
type Authenticator interface {
	Authenticate(ctx context.Context, user, password string) (principal string, err error)
}

// ErrBadCredentials is wrapped by Authenticators' errors for an unknown
// user or a wrong password.
var ErrBadCredentials = errors.New("bad user name or password")

// Principal is the Kafka principal of a user name.
func Principal(user string) string { return "User:" + user }

// ClusterAuthConfig configures a ClusterAuthenticator.
type ClusterAuthConfig struct {
	// Brokers are the seed brokers of the cluster holding the users.
	// Required.
	Brokers []string
	// TLS is the transport to them (the user's SASL settings are the
	// credentials being checked).
	TLS TLS
	// Mechanisms are tried in order until one accepts the credentials;
	// default SCRAM-SHA-256 then SCRAM-SHA-512 (PLAIN may be listed).
	Mechanisms []string
	// CacheTTL is how long a successful check is remembered, keyed by a
	// hash of the user name and password; default one minute. A deleted
	// user or changed password is noticed within it.
	CacheTTL time.Duration
	// Timeout bounds one check; default 10s.
	Timeout time.Duration
}

// ClusterAuthenticator checks credentials by authenticating to the Kafka
// cluster with them: what a registry or console in front of any Kafka
// cluster can do without access to the credential store. It is safe for
// concurrent use.
type ClusterAuthenticator struct {
	cfg ClusterAuthConfig

	mu struct {
		sync.Mutex
		ok map[[sha256.Size]byte]cached // by hash of user and password
	}
}

type cached struct {
	principal string
	until     time.Time
}

// maxCached bounds the cache; past it, expired entries are dropped, and
// if none expired the whole cache is.
const maxCached = 10000

// NewClusterAuthenticator checks cfg; it does not contact the cluster.
func NewClusterAuthenticator(cfg ClusterAuthConfig) (*ClusterAuthenticator, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafkasec: ClusterAuthConfig.Brokers is empty")
	}
	if len(cfg.Mechanisms) == 0 {
		cfg.Mechanisms = []string{SCRAMSHA256, SCRAMSHA512}
	}
	for _, m := range cfg.Mechanisms {
		probe := Config{SASL: SASL{Mechanism: m, Username: "u", Password: "p"}}
		if err := probe.Validate(); err != nil || strings.EqualFold(m, OAUTHBEARER) {
			return nil, fmt.Errorf("kafkasec: ClusterAuthConfig.Mechanisms: %q is not PLAIN or SCRAM", m)
		}
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = time.Minute
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	a := &ClusterAuthenticator{cfg: cfg}
	a.mu.ok = map[[sha256.Size]byte]cached{}
	return a, nil
}

// Authenticate implements Authenticator.
func (a *ClusterAuthenticator) Authenticate(ctx context.Context, user, password string) (string, error) {
	if user == "" || password == "" {
		return "", ErrBadCredentials
	}
	key := sha256.Sum256([]byte(user + "\x00" + password))
	if p, ok := a.cachedPrincipal(key); ok {
		return p, nil
	}
	var last error
	for _, m := range a.cfg.Mechanisms {
		err := a.try(ctx, Config{TLS: a.cfg.TLS, SASL: SASL{Mechanism: m, Username: user, Password: password}})
		if err == nil {
			p := Principal(user)
			a.remember(key, p)
			return p, nil
		}
		if !errors.Is(err, ErrBadCredentials) {
			return "", err
		}
		last = err
	}
	return "", last
}

func (a *ClusterAuthenticator) cachedPrincipal(key [sha256.Size]byte) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.mu.ok[key]
	if !ok || time.Now().After(c.until) {
		return "", false
	}
	return c.principal, true
}

func (a *ClusterAuthenticator) remember(key [sha256.Size]byte, principal string) {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.mu.ok) >= maxCached {
		for k, c := range a.mu.ok {
			if now.After(c.until) {
				delete(a.mu.ok, k)
			}
		}
		if len(a.mu.ok) >= maxCached {
			clear(a.mu.ok)
		}
	}
	a.mu.ok[key] = cached{principal: principal, until: now.Add(a.cfg.CacheTTL)}
}

// try connects with sec and asks for metadata: the SASL handshake runs
// first on the new connection.
func (a *ClusterAuthenticator) try(ctx context.Context, sec Config) error {
	opts, err := sec.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(a.cfg.Brokers...), kgo.RetryTimeout(time.Second))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.UnsupportedSaslMechanism),
		// Some brokers close the connection on bad credentials.
		errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %s: %w", ErrBadCredentials, sec.SASL.Mechanism, err)
	}
	return fmt.Errorf("kafkasec: checking credentials against %s: %w", strings.Join(a.cfg.Brokers, ","), err)
}

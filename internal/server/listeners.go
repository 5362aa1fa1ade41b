package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/kafka"
	"github.com/heraldhq/herald/internal/tlsconf"
)

// Listener is one Kafka listener: a name, a protocol (PLAINTEXT, SSL,
// SASL_PLAINTEXT, SASL_SSL), where to listen, and what to advertise.
type Listener struct {
	Name     string // default the protocol; unique
	Protocol string
	Addr     string // host:port; port 0 picks a free one
	// Advertised is the host:port Metadata tells clients that connected
	// to this listener; default its address (localhost for an
	// unspecified host).
	Advertised string
}

// TLSConfig is the broker's certificate for SSL and SASL_SSL listeners.
type TLSConfig struct {
	CertFile string
	KeyFile  string
	// ClientCAFile verifies client certificates (mutual TLS). ClientAuth
	// is "none", "requested" (verified when given) or "required";
	// default "required" with a ClientCAFile, else "none".
	ClientCAFile string
	ClientAuth   string
	// ReloadInterval is how often the files are checked for changes;
	// default 30s, below 0 never (SIGHUP still reloads).
	ReloadInterval time.Duration
}

// SASLConfig configures SASL on SASL_PLAINTEXT and SASL_SSL listeners.
type SASLConfig struct {
	// Mechanisms enabled (sasl.enabled.mechanisms); default PLAIN,
	// SCRAM-SHA-256, SCRAM-SHA-512, and OAUTHBEARER when OAuth.JWKS is
	// set.
	Mechanisms []string
	// SessionLifetime is connections.max.reauth.ms (KIP-368); 0 off.
	SessionLifetime time.Duration
	// FailedAuthDelay delays the answer to a failed authentication;
	// default 100ms.
	FailedAuthDelay time.Duration
	// FailedAuthPerSecond bounds failed authentications per client host
	// (burst five seconds' worth); over it the host is refused until the
	// bound refills. Default 10, below 0 none.
	FailedAuthPerSecond float64
	// OAuth validates OAUTHBEARER tokens; OAuth.JWKS empty: no
	// OAUTHBEARER.
	OAuth auth.OAuthConfig
	// BootstrapUser, with BootstrapPassword, is created at start (SCRAM
	// and PLAIN) when it has no credentials: the first user of a fresh
	// secured broker.
	BootstrapUser     string
	BootstrapPassword string
}

var protocols = []string{kafka.Plaintext, kafka.SSL, kafka.SASLPlaintext, kafka.SASLSSL}

// ParseListeners parses Kafka's listeners form,
// "PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9093", with the
// advertised.listeners form for advertised (matched by name, may be
// empty). A listener's name is its protocol, or NAME when written
// NAME:PROTOCOL://host:port for a second listener of one protocol
// (INTERNAL:PLAINTEXT://...).
func ParseListeners(listeners, advertised string) ([]Listener, error) {
	ls, err := parseListenerList(listeners)
	if err != nil {
		return nil, fmt.Errorf("listeners: %w", err)
	}
	if len(ls) == 0 {
		return nil, errors.New("listeners: none given")
	}
	adv, err := parseListenerList(advertised)
	if err != nil {
		return nil, fmt.Errorf("advertised listeners: %w", err)
	}
	for _, a := range adv {
		i := slices.IndexFunc(ls, func(l Listener) bool { return l.Name == a.Name })
		if i < 0 {
			return nil, fmt.Errorf("advertised listener %s: no listener of that name", a.Name)
		}
		ls[i].Advertised = a.Addr
	}
	return ls, nil
}

func parseListenerList(s string) ([]Listener, error) {
	var out []Listener
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		l, err := parseListener(item)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(out, func(o Listener) bool { return o.Name == l.Name }) {
			return nil, fmt.Errorf("listener name %s used twice", l.Name)
		}
		out = append(out, l)
	}
	return out, nil
}

func parseListener(item string) (Listener, error) {
	scheme, hostport, ok := strings.Cut(item, "://")
	if !ok {
		return Listener{}, fmt.Errorf("%q: want PROTOCOL://host:port", item)
	}
	name, proto, named := strings.Cut(scheme, ":")
	if !named {
		proto = name
	}
	proto = strings.ToUpper(proto)
	if !slices.Contains(protocols, proto) {
		return Listener{}, fmt.Errorf("%q: protocol %s: want one of %s", item, proto, strings.Join(protocols, ", "))
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		return Listener{}, fmt.Errorf("%q: %w", item, err)
	}
	if u, err := url.Parse("x://" + hostport); err != nil || u.Path != "" {
		return Listener{}, fmt.Errorf("%q: bad address", item)
	}
	return Listener{Name: strings.ToUpper(name), Protocol: proto, Addr: hostport}, nil
}

// listeners is cfg's listeners: Listeners, or one PLAINTEXT listener on
// ListenAddr.
func (cfg *Config) listeners() []Listener {
	if len(cfg.Listeners) > 0 {
		out := slices.Clone(cfg.Listeners)
		for i := range out {
			if out[i].Name == "" {
				out[i].Name = out[i].Protocol
			}
		}
		return out
	}
	return []Listener{{Name: kafka.Plaintext, Protocol: kafka.Plaintext, Addr: cfg.ListenAddr, Advertised: cfg.AdvertisedAddr}}
}

// clientAuth maps ClientAuth to tls's policy.
func (t TLSConfig) files() (tlsconf.Files, error) {
	f := tlsconf.Files{Cert: t.CertFile, Key: t.KeyFile, ClientCA: t.ClientCAFile}
	switch t.ClientAuth {
	case "":
	case "none":
		f.ClientCA = ""
	case "requested":
		f.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		f.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return f, fmt.Errorf("tls client auth %q: want none, requested or required", t.ClientAuth)
	}
	if f.ClientAuth != tls.NoClientCert && f.ClientCA == "" {
		return f, fmt.Errorf("tls client auth %s needs a client CA file", t.ClientAuth)
	}
	return f, nil
}

// authenticates reports whether clients of l prove who they are: SASL,
// or SSL with required client certificates.
func (l Listener) authenticates(t TLSConfig) bool {
	switch l.Protocol {
	case kafka.SASLPlaintext, kafka.SASLSSL:
		return true
	case kafka.SSL:
		f, err := t.files()
		return err == nil && f.ClientCA != "" && (f.ClientAuth == tls.RequireAndVerifyClientCert || f.ClientAuth == tls.NoClientCert)
	}
	return false
}

package kafka

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/heraldhq/herald/internal/access"
)

// Listener protocols, Kafka's security.protocol names.
const (
	Plaintext     = "PLAINTEXT"
	SSL           = "SSL"
	SASLPlaintext = "SASL_PLAINTEXT"
	SASLSSL       = "SASL_SSL"
)

// Listener describes one listening socket: what it speaks and what
// Metadata, FindCoordinator and DescribeCluster tell the clients connected
// to it (each client is told the address of the listener it came in on,
// as Kafka does).
type Listener struct {
	Name           string // e.g. "PLAINTEXT", "INTERNAL"; for logs
	Protocol       string // Plaintext, SSL, SASLPlaintext or SASLSSL
	AdvertisedHost string
	AdvertisedPort int32
	// TLS is the handshake's configuration on SSL and SASL_SSL listeners
	// (a tlsconf.Reloader's ServerConfig, so certificate changes apply to
	// new connections). With client certificates verified (mutual TLS)
	// the connection's principal is User:<subject DN>, see
	// certPrincipal.
	TLS *tls.Config
}

// SASL reports whether the listener authenticates with SASL.
func (l *Listener) SASL() bool { return l.Protocol == SASLPlaintext || l.Protocol == SASLSSL }

// usesTLS reports whether the listener speaks TLS.
func (l *Listener) usesTLS() bool { return l.Protocol == SSL || l.Protocol == SASLSSL }

// check validates l for ServeListener.
func (l *Listener) check(s *Server) error {
	switch l.Protocol {
	case Plaintext, SSL, SASLPlaintext, SASLSSL:
	default:
		return fmt.Errorf("listener %s: unknown protocol %q (want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", l.Name, l.Protocol)
	}
	if l.usesTLS() && l.TLS == nil {
		return fmt.Errorf("listener %s: %s needs a TLS configuration", l.Name, l.Protocol)
	}
	if l.SASL() && s.cfg.SASL == nil {
		return fmt.Errorf("listener %s: %s needs SASL mechanisms", l.Name, l.Protocol)
	}
	return nil
}

// tlsHandshakeTimeout bounds a TLS handshake from accept.
const tlsHandshakeTimeout = 10 * time.Second

// handshakeTLS runs c's TLS handshake, if its listener speaks TLS, and
// takes the principal from a verified client certificate. readLoop only,
// before the first frame.
func (c *conn) handshakeTLS() error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	if err := c.setReadDeadline(time.Now().Add(tlsHandshakeTimeout)); err != nil {
		return err
	}
	tc.SetWriteDeadline(time.Now().Add(tlsHandshakeTimeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	tc.SetWriteDeadline(time.Time{})
	if p, ok := certPrincipal(tc.ConnectionState()); ok {
		c.principal = p
	}
	return nil
}

// certPrincipal is the principal of a verified client certificate:
// "User:" and the subject's distinguished name in RFC 2253 form, most
// specific first, as Kafka's default principal builder writes it
// (X500Principal.getName()): CN=alice,OU=Payments,O=Example,C=DE.
func certPrincipal(st tls.ConnectionState) (access.Principal, bool) {
	if len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return access.Principal{}, false
	}
	return access.Principal{Type: "User", Name: st.PeerCertificates[0].Subject.String()}, true
}

// ServeListener accepts connections on ln, speaking l's protocol, until
// Close; see Serve. It wraps ln in TLS for SSL and SASL_SSL.
func (s *Server) ServeListener(ln net.Listener, l Listener) error {
	if err := l.check(s); err != nil {
		ln.Close()
		return err
	}
	if l.usesTLS() {
		ln = tls.NewListener(ln, l.TLS)
	}
	return s.serve(ln, &l)
}

package kafka

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/auth"
)

// SASL on SASL_PLAINTEXT and SASL_SSL listeners, as Kafka's
// SaslServerAuthenticator does it:
//
//	ApiVersions (any time)
//	SaslHandshake v0|v1  mechanism    -> enabled mechanisms, or
//	                                     UNSUPPORTED_SASL_MECHANISM and close
//	v1: SaslAuthenticate  auth bytes   -> challenge, ... until done
//	v0: raw tokens, each a size-prefixed frame with no header, answered
//	    the same way (old clients); a failure closes with no answer
//
// Until the connection has authenticated, any other request closes it.
// A failure answers SASL_AUTHENTICATION_FAILED with the reason after
// Config.FailedAuthDelay, then closes. Success sets the principal and,
// with SaslAuthenticate v1+, answers session_lifetime_ms: the smaller of
// Config.SessionLifetime and an OAUTHBEARER token's remaining life
// (KIP-368). The client must then re-authenticate (SaslHandshake and
// SaslAuthenticate again, same mechanism and principal) before that
// time; the first request after it (a late re-authentication too) closes
// the connection, as Kafka does.
//
// Before authentication a frame may not exceed maxUnauthFrame (Kafka's
// sasl.server.max.receive.size), so an anonymous client cannot make the
// broker buffer large frames.

// maxUnauthFrame bounds frames before SASL authentication.
const maxUnauthFrame = 512 << 10

// SASL request keys.
const (
	saslHandshakeKey    = 17
	saslAuthenticateKey = 36
)

// saslState is a connection's SASL progress; readLoop only (the SASL
// handlers run on the reader goroutine).
type saslState struct {
	required bool // the listener is SASL_*
	authed   bool // authenticated at least once
	// mech is the mechanism of the handshake in progress or of the last
	// authentication.
	mech string
	// x is the exchange in progress: set by SaslHandshake, cleared when
	// it ends.
	x auth.Exchange
	// raw: SaslHandshake v0 was used, so the next frames are raw tokens.
	raw bool
	// expires is when the session ends (unix nanoseconds); 0: never.
	expires int64
}

// frameLimit is the largest frame c may send now.
func (c *conn) frameLimit() int32 {
	if c.sasl.required && !c.sasl.authed {
		return min(c.s.cfg.MaxRequestBytes, maxUnauthFrame)
	}
	return c.s.cfg.MaxRequestBytes
}

// minFrame is the smallest frame c may send now: a request header, or
// nothing for a raw SASL token.
func (c *conn) minFrame() int32 {
	if c.sasl.raw {
		return 0
	}
	return minHeader
}

// errUnauthenticated closes a connection that sent a request before
// authenticating; errSessionExpired one whose session ended.
var (
	errUnauthenticated = errors.New("request before SASL authentication")
	// errTooManyFailures refuses an exchange from a host over its
	// failure bound (failLimiter).
	errTooManyFailures = fmt.Errorf("%w: too many failed authentications from this host; try again later", auth.ErrFailed)
	errSessionExpired  = errors.New("SASL session expired without re-authentication")
)

// saslGate lets a request with key through or returns why the
// connection closes. It is the per-request check: three field tests on
// an authenticated connection without a session lifetime, plus a clock
// read with one; it allocates nothing.
func (c *conn) saslGate(key int16) error {
	if !c.sasl.required {
		return nil
	}
	// An ended session closes at any request, a re-authentication too
	// (Kafka's Processor closes expired channels before it looks at the
	// request): the client must re-authenticate before the end.
	if c.sasl.expires != 0 && time.Now().UnixNano() > c.sasl.expires {
		return errSessionExpired
	}
	if c.sasl.authed || key == apiVersionsKey || key == saslHandshakeKey || key == saslAuthenticateKey {
		return nil
	}
	return errUnauthenticated
}

// handleRawSASL answers a raw SASL token (after SaslHandshake v0). A
// failure closes the connection without an answer, as Kafka does for v0.
func (s *Server) handleRawSASL(c *conn, frame []byte) (p *pending) {
	p = &pending{isRaw: true}
	defer func() {
		if v := recover(); v != nil {
			p.err = fmt.Errorf("%w: raw sasl token: %v", errHandlerPanic, v)
			s.logger.Error("sasl exchange panicked", "remote", c.remote, "panic", v, "stack", string(debug.Stack()))
		}
	}()
	var resp []byte
	var done bool
	err := errTooManyFailures
	if !s.authFails.blocked(c.host, time.Now()) {
		resp, done, err = c.sasl.x.Next(frame)
	}
	if err != nil {
		c.sasl.x, c.sasl.raw = nil, false
		s.authFails.fail(c.host, time.Now())
		p.err = fmt.Errorf("sasl %s (v0): %w", c.sasl.mech, err)
		return p
	}
	p.raw = resp
	if done {
		c.sasl.raw = false
		if _, err := c.finishSASL(); err != nil {
			p.err = err
		}
	}
	return p
}

// finishSASL ends a successful exchange: it sets the principal (or, on
// re-authentication, checks it did not change) and the session's end,
// and returns the session lifetime to announce (0: none).
func (c *conn) finishSASL() (time.Duration, error) {
	res := c.sasl.x.Result()
	c.sasl.x = nil
	if c.sasl.authed && res.Principal != c.principal {
		return 0, fmt.Errorf("%w: cannot change principals during re-authentication (from %s to %s)", auth.ErrFailed, c.principal, res.Principal)
	}
	life := c.s.cfg.SessionLifetime
	if !res.Expires.IsZero() {
		left := time.Until(res.Expires)
		if left <= 0 {
			return 0, fmt.Errorf("%w: credential expired", auth.ErrFailed)
		}
		if life <= 0 || left < life {
			life = left
		}
	}
	if !c.sasl.authed {
		c.principal = res.Principal
		c.sasl.authed = true
		c.s.logger.Debug("sasl authenticated", "remote", c.remote, "principal", res.Principal.String(), "mechanism", c.sasl.mech)
	}
	c.sasl.expires = 0
	if life > 0 {
		c.sasl.expires = time.Now().Add(life).UnixNano()
	}
	return life, nil
}

// handleSaslHandshake (key 17) picks the mechanism. On a listener
// without SASL it answers ILLEGAL_SASL_STATE and the connection stays
// open; a second handshake before the exchange ends, or a mechanism that
// is not enabled, is answered and closes the connection.
func handleSaslHandshake(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	c := r.c
	if !c.sasl.required {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, nil
	}
	resp.SupportedMechanisms = s.cfg.SASL.Enabled()
	x, ok := s.cfg.SASL.Start(req.Mechanism)
	switch {
	case c.sasl.x != nil:
		resp.ErrorCode = kerr.IllegalSaslState.Code
		r.p.closeAfter = true
	case !ok:
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		r.p.closeAfter = true
	case c.sasl.authed && (req.Mechanism != c.sasl.mech || r.version == 0):
		// Re-authentication keeps the mechanism and needs
		// SaslAuthenticate (KIP-368).
		resp.ErrorCode = kerr.IllegalSaslState.Code
		r.p.closeAfter = true
	default:
		c.sasl.x, c.sasl.mech, c.sasl.raw = x, req.Mechanism, r.version == 0
	}
	return resp, nil
}

// handleSaslAuthenticate (key 36) carries one step of the exchange.
func handleSaslAuthenticate(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	c := r.c
	if !c.sasl.required || c.sasl.x == nil || c.sasl.raw {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate before a SaslHandshake"
		if !c.sasl.required {
			msg = "this listener does not use SASL"
		}
		resp.ErrorMessage = &msg
		r.p.closeAfter = c.sasl.required
		return resp, nil
	}
	if s.authFails.blocked(c.host, time.Now()) {
		c.sasl.x = nil
		return s.saslFailed(r, resp, errTooManyFailures)
	}
	out, done, err := c.sasl.x.Next(req.SASLAuthBytes)
	var life time.Duration
	if err == nil && done {
		life, err = c.finishSASL()
	}
	if err != nil {
		c.sasl.x = nil
		return s.saslFailed(r, resp, err)
	}
	resp.SASLAuthBytes = out
	if done {
		resp.SessionLifetimeMillis = life.Milliseconds()
	}
	return resp, nil
}

// saslFailed answers a failed authentication after FailedAuthDelay and
// closes the connection, and counts the failure against the client's
// host (failLimiter): a password-guessing client gets a few tries a
// second, not thousands.
func (s *Server) saslFailed(r *request, resp *kmsg.SASLAuthenticateResponse, err error) (kmsg.Response, error) {
	if !errors.Is(err, auth.ErrFailed) {
		s.logger.Error("sasl authentication error", "remote", r.c.remote, "err", err)
	} else {
		s.logger.Info("sasl authentication failed", "remote", r.c.remote, "mechanism", r.c.sasl.mech, "err", err)
	}
	s.authFails.fail(r.c.host, time.Now())
	resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
	msg := err.Error()
	resp.ErrorMessage = &msg
	r.p.closeAfter = true
	delay := s.cfg.FailedAuthDelay
	if delay <= 0 {
		return resp, nil
	}
	r.later(func() kmsg.Response {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.die:
		}
		return resp
	})
	return nil, nil
}

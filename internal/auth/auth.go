package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/access"
)

// Mechanism names, as SaslHandshake carries them. Part of the wire format.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
	OAuthBearer = "OAUTHBEARER"
)

// Mechanisms is every mechanism Herald serves, in the order a broker
// enables them by default.
var Mechanisms = []string{Plain, ScramSHA256, ScramSHA512, OAuthBearer}

// ErrFailed marks an authentication failure. Its message is safe to send
// to the client (SaslAuthenticate's error message): it never says whether
// the user exists.
var ErrFailed = errors.New("authentication failed")

// failed is an ErrFailed with what the client is told.
func failed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFailed, fmt.Sprintf(format, args...))
}

// Result is what a successful exchange established.
type Result struct {
	Principal access.Principal
	// Expires is when the credential stops being valid (an OAUTHBEARER
	// token's exp); zero when it does not expire.
	Expires time.Time
}

// An Exchange is the server's side of one SASL conversation. Next takes
// the client's next message and returns the server's answer; done is true
// once the client is authenticated, and Result then says as whom. An
// error ends the conversation; errors.Is(err, ErrFailed) for bad
// credentials or malformed messages. An Exchange is used by one goroutine
// at a time; Next does not keep msg.
type Exchange interface {
	Next(msg []byte) (resp []byte, done bool, err error)
	Result() Result
}

// Authenticator starts exchanges for the mechanisms a broker enables. It
// is safe for concurrent use.
type Authenticator struct {
	store   *Store
	oauth   *OAuthValidator
	enabled []string
}

// NewAuthenticator serves enabled (empty: every mechanism the
// configuration allows: the SCRAM ones and PLAIN with a store, and
// OAUTHBEARER with a validator). Enabling OAUTHBEARER without a
// validator, or another mechanism without a store, is an error.
func NewAuthenticator(store *Store, oauth *OAuthValidator, enabled []string) (*Authenticator, error) {
	if len(enabled) == 0 {
		for _, m := range Mechanisms {
			if m == OAuthBearer && oauth != nil || m != OAuthBearer && store != nil {
				enabled = append(enabled, m)
			}
		}
	}
	for _, m := range enabled {
		switch {
		case !slices.Contains(Mechanisms, m):
			return nil, fmt.Errorf("sasl mechanism %q: want one of %s", m, strings.Join(Mechanisms, ", "))
		case m == OAuthBearer && oauth == nil:
			return nil, errors.New("sasl mechanism OAUTHBEARER needs a JWKS (--sasl-oauthbearer-jwks)")
		case m != OAuthBearer && store == nil:
			return nil, fmt.Errorf("sasl mechanism %s needs the credential store", m)
		}
	}
	if len(enabled) == 0 {
		return nil, errors.New("no sasl mechanism enabled")
	}
	return &Authenticator{store: store, oauth: oauth, enabled: slices.Clone(enabled)}, nil
}

// Enabled is the enabled mechanisms; the caller must not modify it.
func (a *Authenticator) Enabled() []string { return a.enabled }

// Start begins an exchange for mech; ok is false when mech is not
// enabled.
func (a *Authenticator) Start(mech string) (x Exchange, ok bool) {
	if !slices.Contains(a.enabled, mech) {
		return nil, false
	}
	switch mech {
	case Plain:
		return &plainExchange{store: a.store}, true
	case ScramSHA256, ScramSHA512:
		return newScramExchange(a.store, mech), true
	case OAuthBearer:
		return &oauthExchange{v: a.oauth}, true
	}
	return nil, false
}

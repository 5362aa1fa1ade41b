package kafkasec

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/heraldhq/herald/internal/tlsconf"
)

// The SASL mechanisms, spelled as Kafka spells them (sasl.mechanism).
const (
	PLAIN       = "PLAIN"
	SCRAMSHA256 = "SCRAM-SHA-256"
	SCRAMSHA512 = "SCRAM-SHA-512"
	OAUTHBEARER = "OAUTHBEARER"
)

// Config is how a Kafka client secures its connections: TLS, SASL, both
// (Kafka's SASL_SSL) or neither. The zero Config is a plaintext,
// unauthenticated client. A Config is a value: copy it freely.
type Config struct {
	TLS  TLS
	SASL SASL
}

// TLS is the transport's settings. TLS is on when Enabled or when any
// other field is set: giving a CA file means "use TLS".
type TLS struct {
	Enabled bool
	// CAFile verifies the broker's certificate (PEM); empty: the
	// system's roots.
	CAFile string
	// CertFile and KeyFile are the client's certificate and key (PEM),
	// for mutual TLS; both or neither.
	CertFile, KeyFile string
	// InsecureSkipVerify accepts any broker certificate. For tests only:
	// it gives up the protection TLS exists for.
	InsecureSkipVerify bool
	// ServerName is the name checked against the broker's certificate;
	// empty: the host of the address dialled.
	ServerName string
}

// On reports whether TLS is used.
func (t TLS) On() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" ||
		t.InsecureSkipVerify || t.ServerName != ""
}

// SASL is the authentication's settings. An empty Mechanism turns SASL
// off.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER
	// (case does not matter).
	Mechanism string
	// Username and Password are for PLAIN and SCRAM.
	Username, Password string
	// For OAUTHBEARER, exactly one of: Token, a bearer token (a JWT);
	// TokenFile, a file holding one, read again at every authentication
	// so that a sidecar can rotate it; TokenSource, called at every
	// authentication.
	Token       string
	TokenFile   string
	TokenSource func(ctx context.Context) (string, error)
}

// Validate reports every problem of the settings, joined.
func (c Config) Validate() error {
	var errs []error
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: a client certificate needs both its certificate and key files"))
	}
	s := c.SASL
	switch mech := strings.ToUpper(s.Mechanism); mech {
	case "":
		if s.Username != "" || s.Password != "" || s.Token != "" || s.TokenFile != "" || s.TokenSource != nil {
			errs = append(errs, errors.New("sasl: credentials given without a mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)"))
		}
	case PLAIN, SCRAMSHA256, SCRAMSHA512:
		if s.Username == "" {
			errs = append(errs, fmt.Errorf("sasl %s: a username is required", mech))
		}
		if s.Password == "" {
			errs = append(errs, fmt.Errorf("sasl %s: a password is required", mech))
		}
	case OAUTHBEARER:
		n := 0
		for _, set := range []bool{s.Token != "", s.TokenFile != "", s.TokenSource != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, errors.New("sasl OAUTHBEARER: give exactly one of a token, a token file or a token source"))
		}
	default:
		errs = append(errs, fmt.Errorf("sasl: unknown mechanism %q (want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)", s.Mechanism))
	}
	return errors.Join(errs...)
}

// Opts returns the franz-go options that apply the settings: add them to
// any kgo.NewClient call, or to the ClientOpts of Herald's SDK configs.
// It reads the TLS files now, so a missing file fails here.
func (c Config) Opts() ([]kgo.Opt, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	tc, err := c.TLSConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if m := c.SASLMechanism(); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// TLSConfig is the client TLS configuration, nil when TLS is off. It
// also serves HTTP clients (the schema registry's).
func (c Config) TLSConfig() (*tls.Config, error) {
	if !c.TLS.On() {
		return nil, nil
	}
	tc, err := tlsconf.Client(tlsconf.Files{CA: c.TLS.CAFile, Cert: c.TLS.CertFile, Key: c.TLS.KeyFile}, c.TLS.ServerName)
	if err != nil {
		return nil, err
	}
	tc.InsecureSkipVerify = c.TLS.InsecureSkipVerify //nolint:gosec // the user asked for it, documented as test-only
	return tc, nil
}

// SASLMechanism is the franz-go mechanism of the settings, nil without
// SASL or with an unknown mechanism (Validate says which).
func (c Config) SASLMechanism() sasl.Mechanism {
	s := c.SASL
	switch strings.ToUpper(s.Mechanism) {
	case PLAIN:
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism()
	case SCRAMSHA256:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism()
	case SCRAMSHA512:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism()
	case OAUTHBEARER:
		return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
			tok, err := s.token(ctx)
			return oauth.Auth{Token: tok}, err
		})
	}
	return nil
}

// token is the OAUTHBEARER token of this authentication.
func (s SASL) token(ctx context.Context) (string, error) {
	switch {
	case s.TokenSource != nil:
		return s.TokenSource(ctx)
	case s.TokenFile != "":
		b, err := os.ReadFile(s.TokenFile)
		if err != nil {
			return "", fmt.Errorf("sasl OAUTHBEARER: token file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("sasl OAUTHBEARER: token file %s is empty", s.TokenFile)
		}
		return tok, nil
	}
	return s.Token, nil
}

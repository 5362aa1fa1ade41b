package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldhq/herald/internal/access"
)

// OAUTHBEARER (RFC 7628). The client's one message:
//
//	gs2-header %x01 "auth=Bearer " token %x01 *(key "=" value %x01) %x01
//
// e.g. "n,,\x01auth=Bearer eyJ...\x01\x01". The token is a JWT, checked
// by OAuthValidator; extensions are ignored. A failure answers
// SASL_AUTHENTICATION_FAILED with the reason (expired, wrong issuer, ...).

// OAuthConfig configures the validation of OAUTHBEARER tokens.
type OAuthConfig struct {
	// JWKS is the JSON Web Key Set that signs tokens: a file path or an
	// http(s) URL. It is read at start and again when a token names a
	// key it lacks (at most every RefreshMin) or after RefreshMax.
	JWKS string
	// Issuer, when set, must be the token's iss; Audience, when set,
	// must be among its aud.
	Issuer   string
	Audience string
	// PrincipalClaim names the claim that holds the user name; default
	// "sub".
	PrincipalClaim string
	// Leeway tolerates clock skew on exp and nbf; default 30s.
	Leeway time.Duration
	Logger *slog.Logger
}

// JWKS refresh bounds.
const (
	jwksRefreshMin = 10 * time.Second
	jwksRefreshMax = 10 * time.Minute
	jwksFetchLimit = 1 << 20
)

// OAuthValidator checks OAUTHBEARER JWTs: signature against the JWKS,
// algorithm (RS*, PS*, ES*, EdDSA), exp (required) and nbf, iss and aud
// when configured, and a non-empty principal claim. Safe for concurrent
// use.
type OAuthValidator struct {
	cfg    OAuthConfig
	parser *jwt.Parser
	keys   atomic.Pointer[jwks]
	// refreshMu serializes JWKS reads; the read (file or HTTP) runs under
	// it, never under another lock.
	refreshMu sync.Mutex
}

// jwks is one reading of the key set.
type jwks struct {
	keys map[string]crypto.PublicKey // by kid; "" for a key without one
	read time.Time
}

// NewOAuthValidator reads the JWKS once; it fails when the JWKS cannot
// be read or holds no usable key.
func NewOAuthValidator(cfg OAuthConfig) (*OAuthValidator, error) {
	if cfg.JWKS == "" {
		return nil, errors.New("oauthbearer: a JWKS file or URL is required")
	}
	if cfg.PrincipalClaim == "" {
		cfg.PrincipalClaim = "sub"
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}),
		jwt.WithExpirationRequired(), jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v := &OAuthValidator{cfg: cfg, parser: jwt.NewParser(opts...)}
	ks, err := v.readJWKS()
	if err != nil {
		return nil, err
	}
	v.keys.Store(ks)
	return v, nil
}

// Validate checks a token and returns its principal and expiry; an error
// is ErrFailed with the reason.
func (v *OAuthValidator) Validate(token string) (Result, error) {
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.keyFor); err != nil {
		return Result{}, failed("invalid token: %v", err)
	}
	name, _ := claims[v.cfg.PrincipalClaim].(string)
	if name == "" {
		return Result{}, failed("invalid token: no %q claim", v.cfg.PrincipalClaim)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return Result{}, failed("invalid token: no exp claim")
	}
	return Result{Principal: access.Principal{Type: "User", Name: name}, Expires: exp.Time}, nil
}

// keyFor is the jwt.Keyfunc: the JWKS key the token's kid names,
// re-reading the JWKS when it lacks it (rotation).
func (v *OAuthValidator) keyFor(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	ks := v.keys.Load()
	if k, ok := ks.pick(kid); ok && time.Since(ks.read) < jwksRefreshMax {
		return k, nil
	}
	ks = v.refresh(ks)
	if k, ok := ks.pick(kid); ok {
		return k, nil
	}
	return nil, fmt.Errorf("no key %q in the JWKS", kid)
}

// pick finds the key kid names; a token without kid takes the only key.
func (ks *jwks) pick(kid string) (crypto.PublicKey, bool) {
	if k, ok := ks.keys[kid]; ok {
		return k, true
	}
	if kid == "" && len(ks.keys) == 1 {
		for _, k := range ks.keys {
			return k, true
		}
	}
	return nil, false
}

// refresh reads the JWKS again unless it was read less than
// jwksRefreshMin ago; on failure it keeps the old keys.
func (v *OAuthValidator) refresh(old *jwks) *jwks {
	v.refreshMu.Lock()
	defer v.refreshMu.Unlock()
	if cur := v.keys.Load(); cur != old || time.Since(cur.read) < jwksRefreshMin {
		return cur
	}
	ks, err := v.readJWKS()
	if err != nil {
		v.cfg.Logger.Error("oauthbearer: reading the JWKS failed; keeping the previous keys", "jwks", v.cfg.JWKS, "err", err)
		ks = &jwks{keys: old.keys, read: time.Now()} // do not retry at once
		v.keys.Store(ks)
		return ks
	}
	v.keys.Store(ks)
	return ks
}

func (v *OAuthValidator) readJWKS() (*jwks, error) {
	var b []byte
	var err error
	if strings.HasPrefix(v.cfg.JWKS, "https://") || strings.HasPrefix(v.cfg.JWKS, "http://") {
		b, err = fetchJWKS(v.cfg.JWKS)
	} else {
		b, err = os.ReadFile(v.cfg.JWKS)
	}
	if err != nil {
		return nil, fmt.Errorf("oauthbearer: read JWKS: %w", err)
	}
	keys, err := ParseJWKS(b)
	if err != nil {
		return nil, fmt.Errorf("oauthbearer: JWKS %s: %w", v.cfg.JWKS, err)
	}
	return &jwks{keys: keys, read: time.Now()}, nil
}

func fetchJWKS(url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, jwksFetchLimit))
}

// jwk is one key of a JWKS (RFC 7517, 7518, 8037): the public members of
// RSA, EC and OKP (Ed25519) keys.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS decodes a JWKS document {"keys": [...]} into public keys by
// kid. Keys for encryption ("use": "enc") and of unknown types are
// skipped; a set with no usable key is an error.
func ParseJWKS(b []byte) (map[string]crypto.PublicKey, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	keys := map[string]crypto.PublicKey{}
	var errs []error
	for _, k := range doc.Keys {
		if k.Use == "enc" {
			continue
		}
		pk, err := k.publicKey()
		if err != nil {
			errs = append(errs, fmt.Errorf("key %q: %w", k.Kid, err))
			continue
		}
		keys[k.Kid] = pk
	}
	if len(keys) == 0 {
		return nil, errors.Join(append(errs, errors.New("no usable signing key"))...)
	}
	return keys, nil
}

func (k jwk) publicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "RSA":
		n, e := b64int(k.N), b64int(k.E)
		if n == nil || e == nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 || n.BitLen() < 2048 {
			return nil, errors.New("bad RSA key (n of 2048 bits or more and e required)")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "EC":
		return k.ecKey()
	case "OKP":
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if k.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad OKP key (Ed25519 only)")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("unsupported key type %q", k.Kty)
}

func (k jwk) ecKey() (crypto.PublicKey, error) {
	var curve elliptic.Curve
	switch k.Crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	case "P-521":
		curve = elliptic.P521()
	default:
		return nil, fmt.Errorf("unsupported curve %q", k.Crv)
	}
	x, y := b64int(k.X), b64int(k.Y)
	if x == nil || y == nil {
		return nil, errors.New("bad EC key")
	}
	// Check the point through the uncompressed encoding, which
	// crypto/ecdh validates.
	size := (curve.Params().BitSize + 7) / 8
	if len(x.Bytes()) > size || len(y.Bytes()) > size {
		return nil, errors.New("bad EC key")
	}
	raw := append([]byte{4}, append(x.FillBytes(make([]byte, size)), y.FillBytes(make([]byte, size))...)...)
	pk, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
	if err != nil {
		return nil, fmt.Errorf("bad EC key: %w", err)
	}
	return pk, nil
}

func b64int(s string) *big.Int {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil
	}
	return new(big.Int).SetBytes(b)
}

// oauthExchange is the server side of one OAUTHBEARER conversation.
type oauthExchange struct {
	v    *OAuthValidator
	res  Result
	done bool
}

func (x *oauthExchange) Result() Result { return x.res }

func (x *oauthExchange) Next(msg []byte) ([]byte, bool, error) {
	if x.done {
		return nil, false, failed("OAUTHBEARER takes one message")
	}
	x.done = true
	zid, token, err := ParseOAuthBearer(msg)
	if err != nil {
		return nil, false, err
	}
	res, err := x.v.Validate(token)
	if err != nil {
		return nil, false, err
	}
	if zid != "" && zid != res.Principal.Name {
		return nil, false, failed("authorization id must be empty or the token's principal")
	}
	x.res = res
	return nil, true, nil
}

// ParseOAuthBearer parses an OAUTHBEARER client message and returns its
// authzid and bearer token.
func ParseOAuthBearer(msg []byte) (authzid, token string, err error) {
	s := string(msg)
	if !strings.HasPrefix(s, "n,") && !strings.HasPrefix(s, "y,") {
		return "", "", failed("malformed OAUTHBEARER message: bad gs2 header")
	}
	zid, rest, ok := strings.Cut(s[2:], ",")
	if !ok || (zid != "" && !strings.HasPrefix(zid, "a=")) {
		return "", "", failed("malformed OAUTHBEARER message: bad gs2 header")
	}
	zid = strings.TrimPrefix(zid, "a=")
	if !strings.HasPrefix(rest, "\x01") || !strings.HasSuffix(rest, "\x01\x01") || len(rest) < 3 {
		return "", "", failed("malformed OAUTHBEARER message: want gs2-header ^A auth=Bearer token ^A ^A")
	}
	for _, kv := range strings.Split(rest[1:len(rest)-2], "\x01") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", "", failed("malformed OAUTHBEARER message: bad key-value pair")
		}
		if k != "auth" {
			continue
		}
		scheme, tok, ok := strings.Cut(val, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || bytes.ContainsAny([]byte(tok), " \t") {
			return "", "", failed("malformed OAUTHBEARER message: want auth=Bearer <token>")
		}
		token = tok
	}
	if token == "" {
		return "", "", failed("malformed OAUTHBEARER message: no auth=Bearer token")
	}
	return zid, token, nil
}

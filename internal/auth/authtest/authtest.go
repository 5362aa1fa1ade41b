// Package authtest helps tests of OAUTHBEARER: a signing key, the JWKS
// file that publishes it, and tokens signed with it.
package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// Signer is an ES256 key and the JWKS file that publishes it.
type Signer struct {
	Key  *ecdsa.PrivateKey
	Kid  string
	JWKS string // path of the JWKS file
}

// NewSigner makes a key and writes its JWKS under t.TempDir().
func NewSigner(t testing.TB, kid string) *Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &Signer{Key: k, Kid: kid, JWKS: filepath.Join(t.TempDir(), "jwks.json")}
	WriteJWKS(t, s.JWKS, kid, &k.PublicKey)
	return s
}

// Sign returns a JWT with claims, signed ES256 under the signer's kid.
func (s *Signer) Sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = s.Kid
	out, err := tok.SignedString(s.Key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// WriteJWKS writes a JWKS file publishing one P-256 key under kid.
func WriteJWKS(t testing.TB, path, kid string, pub *ecdsa.PublicKey) {
	t.Helper()
	raw, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	size := (len(raw) - 1) / 2
	doc := map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
		"x": base64.RawURLEncoding.EncodeToString(raw[1 : 1+size]),
		"y": base64.RawURLEncoding.EncodeToString(raw[1+size:]),
	}}}
	b, _ := json.Marshal(doc)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

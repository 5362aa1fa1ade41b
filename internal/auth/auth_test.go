package auth

import (
	"context"
	"crypto/pbkdf2"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/heraldhq/herald/internal/auth/authtest"
	"github.com/heraldhq/herald/internal/metadata"
)

func newStore(t testing.TB, users map[string]string) *Store {
	t.Helper()
	s := NewStore(nil, nil)
	for u, p := range users {
		for _, m := range []string{ScramSHA256, ScramSHA512} {
			c, err := NewCredential(u, m, p, MinIterations)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Set(c); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s
}

// converse runs franz-go's client mechanism against a server exchange,
// as the broker relays their messages.
func converse(t testing.TB, a *Authenticator, m sasl.Mechanism) (Result, error) {
	t.Helper()
	sess, msg, err := m.Authenticate(context.Background(), "127.0.0.1:9092")
	if err != nil {
		t.Fatal(err)
	}
	x, ok := a.Start(m.Name())
	if !ok {
		t.Fatalf("%s not enabled", m.Name())
	}
	for range 4 {
		resp, done, err := x.Next(msg)
		if err != nil {
			return Result{}, err
		}
		cdone, next, err := sess.Challenge(resp)
		if err != nil {
			t.Fatalf("client refused the server's answer: %v", err)
		}
		if done {
			if !cdone {
				t.Fatal("server done, client not")
			}
			return x.Result(), nil
		}
		msg = next
	}
	t.Fatal("exchange did not end")
	return Result{}, nil
}

func TestMechanismsWithFranzClients(t *testing.T) {
	store := newStore(t, map[string]string{"alice": "s3cret", "we,ird=name": "pw"})
	a, err := NewAuthenticator(store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		m    sasl.Mechanism
		user string // "" expects failure
	}{
		{"plain", plain.Auth{User: "alice", Pass: "s3cret"}.AsMechanism(), "alice"},
		{"plain bad password", plain.Auth{User: "alice", Pass: "nope"}.AsMechanism(), ""},
		{"plain unknown user", plain.Auth{User: "mallory", Pass: "s3cret"}.AsMechanism(), ""},
		{"plain other authzid", plain.Auth{Zid: "bob", User: "alice", Pass: "s3cret"}.AsMechanism(), ""},
		{"scram-256", scram.Auth{User: "alice", Pass: "s3cret"}.AsSha256Mechanism(), "alice"},
		{"scram-512", scram.Auth{User: "alice", Pass: "s3cret"}.AsSha512Mechanism(), "alice"},
		{"scram escaped name", scram.Auth{User: "we,ird=name", Pass: "pw"}.AsSha512Mechanism(), "we,ird=name"},
		{"scram-256 bad password", scram.Auth{User: "alice", Pass: "nope"}.AsSha256Mechanism(), ""},
		{"scram-512 unknown user", scram.Auth{User: "mallory", Pass: "x"}.AsSha512Mechanism(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := converse(t, a, tc.m)
			if tc.user == "" {
				if !errors.Is(err, ErrFailed) {
					t.Fatalf("got %v, %v; want ErrFailed", res, err)
				}
				return
			}
			if err != nil || res.Principal.String() != "User:"+tc.user {
				t.Fatalf("got %v, %v; want User:%s", res.Principal, err, tc.user)
			}
		})
	}
}

// TestScramRFC7677 replays RFC 7677's SCRAM-SHA-256 example: the server's
// answers and the final signature must be the RFC's.
func TestScramRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	store := NewStore(nil, nil)
	// The RFC's salted password for "pencil", salt and 4096 iterations.
	c, err := NewCredential("user", ScramSHA256, "pencil", 4096)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := credentialWithSalt("user", "pencil", salt)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.StoredKey) == string(c2.StoredKey) {
		t.Fatal("two random salts gave the same key")
	}
	if err := store.Set(c2); err != nil {
		t.Fatal(err)
	}
	x := newScramExchange(store, ScramSHA256)
	sf, _, err := x.Next([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	if err != nil {
		t.Fatal(err)
	}
	// Swap in the RFC's server nonce so the proof below is the RFC's.
	x.nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	x.srvFirst = "r=" + x.nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	if !strings.HasPrefix(string(sf), "r=rOprNGfwEbeRWgbNEkqO") || !strings.HasSuffix(string(sf), ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") {
		t.Fatalf("server-first %q", sf)
	}
	final, done, err := x.Next([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil || !done {
		t.Fatal(done, err)
	}
	if string(final) != "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Fatalf("server-final %q", final)
	}
}

func credentialWithSalt(user, pass string, salt []byte) (metadata.Scram, error) {
	h, _ := scramHashOf(ScramSHA256)
	salted, err := pbkdf2Key(h, pass, salt, 4096)
	if err != nil {
		return metadata.Scram{}, err
	}
	return CredentialFromSalted(user, ScramSHA256, salt, 4096, salted)
}

func TestScramRefusals(t *testing.T) {
	store := newStore(t, map[string]string{"alice": "pw"})
	for name, first := range map[string]string{
		"channel binding": "p=tls-unique,,n=alice,r=abc",
		"mandatory ext":   "n,,m=x,n=alice,r=abc",
		"token auth":      "n,,n=alice,r=abc,tokenauth=true",
		"other authzid":   "n,a=bob,n=alice,r=abc",
		"bad escape":      "n,,n=al=ice,r=abc",
		"no nonce":        "n,,n=alice",
		"empty":           "",
	} {
		x := newScramExchange(store, ScramSHA512)
		if _, _, err := x.Next([]byte(first)); !errors.Is(err, ErrFailed) {
			t.Errorf("%s: %v, want ErrFailed", name, err)
		}
	}
	// A wrong nonce or gs2 echo in client-final.
	for name, final := range map[string]string{
		"nonce": "c=biws,r=other,p=" + base64.StdEncoding.EncodeToString(make([]byte, 64)),
		"gs2":   "c=eSws,r=%s,p=" + base64.StdEncoding.EncodeToString(make([]byte, 64)),
	} {
		x := newScramExchange(store, ScramSHA512)
		if _, _, err := x.Next([]byte("n,,n=alice,r=abc")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := x.Next([]byte(strings.Replace(final, "%s", x.nonce, 1))); !errors.Is(err, ErrFailed) {
			t.Errorf("%s: %v, want ErrFailed", name, err)
		}
	}
}

func TestStore(t *testing.T) {
	var logged []metadata.Record
	s := NewStore(nil, func(r metadata.Record) error { logged = append(logged, r); return nil })
	if _, err := s.Bootstrap("admin", "pw"); err != nil {
		t.Fatal(err)
	}
	if created, _ := s.Bootstrap("admin", "other"); created {
		t.Fatal("bootstrap replaced an existing user")
	}
	if p, err := s.Verify("admin", "pw"); err != nil || p.String() != "User:admin" {
		t.Fatal(p, err)
	}
	if _, err := s.Verify("admin", "other"); !errors.Is(err, ErrFailed) {
		t.Fatal(err)
	}
	if len(logged) != 2 || logged[0].Type != metadata.SetScram {
		t.Fatalf("logged %+v", logged)
	}
	for _, r := range logged {
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), `"pw"`) {
			t.Fatalf("password in the log: %s", b)
		}
	}
	if err := s.Delete("admin", ScramSHA512); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("admin", ScramSHA512); !errors.Is(err, ErrNoCredential) {
		t.Fatal(err)
	}
	if p, err := s.Verify("admin", "pw"); err != nil || p.Name != "admin" {
		t.Fatal("verify through the SCRAM-SHA-256 credential:", p, err)
	}
	got := s.Describe(nil)
	if len(got) != 1 || len(got[0].Credentials) != 1 || got[0].Credentials[0] != (CredentialInfo{ScramSHA256, DefaultIterations}) {
		t.Fatalf("describe %+v", got)
	}
	// A failing persist changes nothing.
	s.persist = func(metadata.Record) error { return errors.New("disk full") }
	if err := s.Delete("admin", ScramSHA256); err == nil {
		t.Fatal("delete with a failing log succeeded")
	}
	if _, err := s.Verify("admin", "pw"); err != nil {
		t.Fatal("a failed delete took effect:", err)
	}
}

type jwtKit = authtest.Signer

func newJWTKit(t testing.TB) *jwtKit { return authtest.NewSigner(t, "k1") }

func pbkdf2Key(h scramHash, pass string, salt []byte, iter int) ([]byte, error) {
	return pbkdf2.Key(h.newHash, pass, salt, iter, h.size)
}

func TestOAuthBearer(t *testing.T) {
	kit := newJWTKit(t)
	other := newJWTKit(t)
	v, err := NewOAuthValidator(OAuthConfig{JWKS: kit.JWKS, Issuer: "https://idp.test", Audience: "herald"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAuthenticator(nil, v, nil)
	if err != nil || len(a.Enabled()) != 1 {
		t.Fatal(a, err)
	}
	now := time.Now()
	good := jwt.MapClaims{"sub": "alice", "iss": "https://idp.test", "aud": "herald", "exp": now.Add(time.Hour).Unix()}
	with := func(k string, val any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	for _, tc := range []struct {
		name, token, want string
	}{
		{"good", kit.Sign(t, good), ""},
		{"expired", kit.Sign(t, with("exp", now.Add(-time.Hour).Unix())), "expired"},
		{"no exp", kit.Sign(t, with("exp", nil)), "exp"},
		{"not yet", kit.Sign(t, with("nbf", now.Add(time.Hour).Unix())), "not valid yet"},
		{"wrong issuer", kit.Sign(t, with("iss", "https://evil")), "issuer"},
		{"wrong audience", kit.Sign(t, with("aud", "other")), "audience"},
		{"no sub", kit.Sign(t, with("sub", nil)), "sub"},
		{"bad signature", other.Sign(t, good), "signature"},
		{"garbage", "not.a.jwt", "invalid token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := converseOAuth(t, a, tc.token)
			if tc.want == "" {
				if err != nil || res.Principal.String() != "User:alice" || res.Expires.Unix() != now.Add(time.Hour).Unix() {
					t.Fatal(res, err)
				}
				return
			}
			if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a failure mentioning %q", err, tc.want)
			}
		})
	}
}

func converseOAuth(t testing.TB, a *Authenticator, token string) (Result, error) {
	return converse(t, a, oauth.Auth{Token: token}.AsMechanism())
}

// TestJWKSRotation: a token signed by a key added to the JWKS file after
// start is accepted once the file names it.
func TestJWKSRotation(t *testing.T) {
	kit := newJWTKit(t)
	v, err := NewOAuthValidator(OAuthConfig{JWKS: kit.JWKS})
	if err != nil {
		t.Fatal(err)
	}
	next := newJWTKit(t)
	next.Kid = "k2"
	v.keys.Load().read = time.Now().Add(-time.Hour) // as if read long ago
	authtest.WriteJWKS(t, kit.JWKS, next.Kid, &next.Key.PublicKey)
	tok := next.Sign(t, jwt.MapClaims{"sub": "bob", "exp": time.Now().Add(time.Minute).Unix()})
	if res, err := v.Validate(tok); err != nil || res.Principal.Name != "bob" {
		t.Fatal(res, err)
	}
}

func TestParseJWKS(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":  "{",
		"no keys":   `{"keys": []}`,
		"short rsa": `{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}`,
		"bad curve": `{"keys": [{"kty": "EC", "crv": "P-1", "x": "AQ", "y": "AQ"}]}`,
		"off curve": `{"keys": [{"kty": "EC", "crv": "P-256", "x": "AQ", "y": "AQ"}]}`,
		"enc only":  `{"keys": [{"kty": "OKP", "use": "enc", "crv": "Ed25519", "x": "` + base64.RawURLEncoding.EncodeToString(make([]byte, 32)) + `"}]}`,
	} {
		if _, err := ParseJWKS([]byte(doc)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	if _, err := NewOAuthValidator(OAuthConfig{JWKS: filepath.Join(t.TempDir(), "missing.json")}); err == nil {
		t.Error("missing JWKS file accepted")
	}
}

func TestAuthenticatorConfig(t *testing.T) {
	if _, err := NewAuthenticator(nil, nil, []string{OAuthBearer}); err == nil {
		t.Error("OAUTHBEARER without a validator")
	}
	if _, err := NewAuthenticator(NewStore(nil, nil), nil, []string{"GSSAPI"}); err == nil {
		t.Error("GSSAPI enabled")
	}
	a, err := NewAuthenticator(NewStore(nil, nil), nil, []string{ScramSHA512})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Start(Plain); ok {
		t.Error("PLAIN started while only SCRAM-SHA-512 is enabled")
	}
}

// TestJWKSURL: the JWKS can be an http(s) URL; a server error at start
// is refused.
func TestJWKSURL(t *testing.T) {
	kit := newJWTKit(t)
	doc, err := os.ReadFile(kit.JWKS)
	if err != nil {
		t.Fatal(err)
	}
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write(doc)
	}))
	defer srv.Close()
	v, err := NewOAuthValidator(OAuthConfig{JWKS: srv.URL + "/jwks.json"})
	if err != nil {
		t.Fatal(err)
	}
	tok := kit.Sign(t, jwt.MapClaims{"sub": "carol", "exp": time.Now().Add(time.Minute).Unix()})
	if res, err := v.Validate(tok); err != nil || res.Principal.Name != "carol" {
		t.Fatal(res, err)
	}
	fail.Store(true)
	if _, err := NewOAuthValidator(OAuthConfig{JWKS: srv.URL}); err == nil {
		t.Fatal("a JWKS URL answering 503 was accepted")
	}
	// Keys already read keep working while the URL is down.
	if _, err := v.Validate(tok); err != nil {
		t.Fatal(err)
	}
}

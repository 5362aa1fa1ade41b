package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The fuzz targets feed client bytes to each mechanism: nothing a client
// sends may panic, and every refusal is ErrFailed (a client error), never
// another error.

func checkFailure(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrFailed) {
		t.Fatalf("client bytes gave a non-client error: %v", err)
	}
}

func FuzzPlain(f *testing.F) {
	store := newStore(f, map[string]string{"alice": "pw"})
	for _, s := range []string{"\x00alice\x00pw", "alice\x00alice\x00pw", "\x00\x00", "", "\x00alice", "a\x00b\x00c\x00d"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		x := &plainExchange{store: store}
		_, done, err := x.Next(msg)
		checkFailure(t, err)
		if done && string(msg) != "\x00alice\x00pw" && string(msg) != "alice\x00alice\x00pw" {
			t.Fatalf("%q authenticated", msg)
		}
	})
}

func FuzzScram(f *testing.F) {
	store := newStore(f, map[string]string{"alice": "pw"})
	f.Add([]byte("n,,n=alice,r=abc"), []byte("c=biws,r=abc,p=AAAA"))
	f.Add([]byte("y,a=alice,n=alice,r=x"), []byte("c=eSxhPWFsaWNlLA==,r=x,p="))
	f.Add([]byte("n,,n==2C=3D,r=1,ext=2"), []byte("c=,r=,p=,p="))
	f.Add([]byte("p=x,,"), []byte(""))
	f.Fuzz(func(t *testing.T, first, final []byte) {
		x := newScramExchange(store, ScramSHA256)
		if _, _, err := x.Next(first); err != nil {
			checkFailure(t, err)
			return
		}
		_, done, err := x.Next(final)
		checkFailure(t, err)
		if done {
			t.Fatalf("authenticated without the password: %q %q", first, final)
		}
	})
}

func FuzzOAuthBearer(f *testing.F) {
	kit := newJWTKit(f)
	v, err := NewOAuthValidator(OAuthConfig{JWKS: kit.JWKS, Audience: "herald"})
	if err != nil {
		f.Fatal(err)
	}
	tok := kit.Sign(f, jwt.MapClaims{"sub": "alice", "aud": "herald", "exp": time.Now().Add(time.Hour).Unix()})
	f.Add([]byte("n,,\x01auth=Bearer " + tok + "\x01\x01"))
	f.Add([]byte("n,a=alice,\x01auth=Bearer x.y.z\x01k=v\x01\x01"))
	f.Add([]byte("\x01"))
	f.Add([]byte("n,,\x01\x01"))
	f.Add([]byte("n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.\x01\x01"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		x := &oauthExchange{v: v}
		_, _, err := x.Next(msg)
		checkFailure(t, err)
	})
}

// FuzzJWT feeds tokens straight to the validator; a token not signed by
// the JWKS key must never validate.
func FuzzJWT(f *testing.F) {
	kit := newJWTKit(f)
	v, err := NewOAuthValidator(OAuthConfig{JWKS: kit.JWKS})
	if err != nil {
		f.Fatal(err)
	}
	good := kit.Sign(f, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5fQ.")
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5fQ.c2ln")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		res, err := v.Validate(token)
		checkFailure(t, err)
		if err == nil && token != good {
			// Only re-encodings of the good token's parts may pass.
			if res.Principal.Name != "alice" {
				t.Fatalf("forged token accepted: %q", token)
			}
		}
	})
}

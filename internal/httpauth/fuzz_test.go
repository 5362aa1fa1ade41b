package httpauth_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldhq/herald/internal/httpauth"
)

// FuzzWrap: whatever Authorization header a client sends, Wrap answers
// without panicking, lets through only bob's password, and challenges
// everything else with 401.
func FuzzWrap(f *testing.F) {
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, seed := range []string{"", "Basic", "Basic ", basic("bob:pw"), basic("bob:pw:extra"), basic(":"), basic("bob"),
		"Basic !!!", "Bearer x", basic("bob:pw") + "=", "basic " + base64.StdEncoding.EncodeToString([]byte("bob:pw")), basic("\x00:\xff")} {
		f.Add(seed)
	}
	h := httpauth.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if httpauth.Principal(r.Context()) != "User:bob" {
			w.WriteHeader(http.StatusTeapot)
		}
	}), httpauth.Config{Authenticator: users{pw: map[string]string{"bob": "pw"}}, Realm: "fuzz"})
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "/x", nil)
		req.Header.Set("Authorization", header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		user, pass, ok := req.BasicAuth()
		good := ok && user == "bob" && pass == "pw"
		switch {
		case good && rec.Code != http.StatusOK:
			t.Fatalf("%q: good credentials answered %d", header, rec.Code)
		case !good && rec.Code != http.StatusUnauthorized:
			t.Fatalf("%q: answered %d, want 401", header, rec.Code)
		case !good && rec.Header().Get("WWW-Authenticate") == "":
			t.Fatalf("%q: 401 without a challenge", header)
		}
	})
}

package httpauth_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/httpauth"
	"github.com/heraldhq/herald/internal/tlsconf"
	"github.com/heraldhq/herald/internal/tlsconf/tlstest"
	"github.com/heraldhq/herald/kafkasec"
)

// users is an Authenticator over a fixed table; down makes it unable
// to decide.
type users struct {
	pw   map[string]string
	down bool
}

func (u users) Authenticate(_ context.Context, user, password string) (string, error) {
	if u.down {
		return "", errors.New("cluster unreachable")
	}
	if pw, ok := u.pw[user]; !ok || pw != password {
		return "", kafkasec.ErrBadCredentials
	}
	return kafkasec.Principal(user), nil
}

func serve(t *testing.T, authn kafkasec.Authenticator) (string, *tlstest.PKI) {
	t.Helper()
	p := tlstest.New(t, "alice")
	r, err := tlsconf.NewReloader(tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey, ClientCA: p.CA, ClientAuth: tls.VerifyClientCertIfGiven}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := httpauth.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, httpauth.Principal(r.Context()))
	}), httpauth.Config{Authenticator: authn, Realm: "test", Open: []string{"/healthz"}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(tls.NewListener(ln, r.ServerConfig())) }()
	t.Cleanup(func() { _ = hs.Close() })
	return "https://" + ln.Addr().String(), p
}

func get(t *testing.T, p *tlstest.PKI, url string, cert bool, user, pass string) (int, string, string) {
	t.Helper()
	f := tlsconf.Files{CA: p.CA}
	if cert {
		f.Cert, f.Key = p.ClientCert, p.ClientKey
	}
	tc, err := tlsconf.Client(f, "")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", url, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: tc}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("WWW-Authenticate")
}

func TestWrap(t *testing.T) {
	url, p := serve(t, users{pw: map[string]string{"bob": "pw"}})
	for _, tc := range []struct {
		name, path, user, pass string
		cert                   bool
		status                 int
		body                   string // the principal, or a part of the error
	}{
		{"certificate", "/x", "", "", true, 200, "User:CN=alice,O=Herald Tests"},
		{"certificate wins over basic", "/x", "bob", "pw", true, 200, "User:CN=alice,O=Herald Tests"},
		{"basic", "/x", "bob", "pw", false, 200, "User:bob"},
		{"bad password", "/x", "bob", "no", false, 401, `"error_code":401`},
		{"no credentials", "/x", "", "", false, 401, "authentication required"},
		{"open path", "/healthz", "", "", false, 200, httpauth.Anonymous},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, challenge := get(t, p, url+tc.path, tc.cert, tc.user, tc.pass)
			if status != tc.status || !strings.Contains(body, tc.body) {
				t.Fatalf("%d %q, want %d %q", status, body, tc.status, tc.body)
			}
			if (status == 401) != (challenge == `Basic realm="test", charset="UTF-8"`) {
				t.Fatalf("status %d with WWW-Authenticate %q", status, challenge)
			}
		})
	}
	downURL, dp := serve(t, users{down: true})
	if status, _, _ := get(t, dp, downURL+"/x", false, "bob", "pw"); status != http.StatusServiceUnavailable {
		t.Fatalf("authenticator down: %d, want 503", status)
	}
	anonURL, ap := serve(t, nil)
	if status, body, _ := get(t, ap, anonURL+"/x", false, "", ""); status != 200 || body != httpauth.Anonymous {
		t.Fatalf("no authenticator: %d %q", status, body)
	}
}

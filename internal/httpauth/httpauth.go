// Package httpauth puts the schema registry's and the console's HTTP
// handlers behind authentication: a verified client certificate (mutual
// TLS) or HTTP basic auth checked by a kafkasec.Authenticator. The
// handler finds the principal with Principal(r.Context()).
//
//	h = httpauth.Wrap(h, httpauth.Config{
//		Authenticator: authn,                  // nil: no basic auth
//		Realm:         "herald schema registry",
//		Open:          []string{"/healthz"},   // never asks for credentials
//		ContentType:   "application/vnd.schemaregistry.v1+json",
//	})
//
// A request is, in order: on an open path, anonymous; with a client
// certificate the TLS handshake verified, the certificate's subject
// (User:CN=alice,O=Example, as Kafka's default principal builder names
// it); without an Authenticator, anonymous; else it must carry basic
// auth credentials the Authenticator accepts, or it is answered 401 with
// a WWW-Authenticate challenge ({"error_code":401,"message":...}), or
// 503 when the Authenticator cannot decide.
package httpauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/heraldhq/herald/kafkasec"
)

// Anonymous is the principal of a request without credentials, as Kafka
// names an unauthenticated client.
const Anonymous = "User:ANONYMOUS"

// Config configures Wrap.
type Config struct {
	Authenticator kafkasec.Authenticator
	// Realm names the protected space in the challenge.
	Realm string
	// Open are paths served without credentials (health checks).
	Open []string
	// ContentType of the error bodies; application/json if empty.
	ContentType string
	// Logger logs authentication failures the Authenticator could not
	// decide; slog.Default() if nil.
	Logger *slog.Logger
}

type principalKey struct{}

// Principal is the request's authenticated principal; Anonymous for a
// request Wrap let through without credentials or one that did not go
// through Wrap.
func Principal(ctx context.Context) string {
	if p, ok := ctx.Value(principalKey{}).(string); ok {
		return p
	}
	return Anonymous
}

// WithPrincipal returns ctx carrying principal, for handlers called
// without Wrap (tests, in-process callers).
func WithPrincipal(ctx context.Context, principal string) context.Context {
	return context.WithValue(ctx, principalKey{}, principal)
}

// Wrap returns h behind authentication as the package doc describes.
func Wrap(h http.Handler, cfg Config) http.Handler {
	if cfg.ContentType == "" {
		cfg.ContentType = "application/json"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, status, err := authenticate(r, cfg)
		if err != nil {
			refuse(w, cfg, status, err)
			return
		}
		h.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// authenticate finds the request's principal, or the status and error
// to refuse it with.
func authenticate(r *http.Request, cfg Config) (string, int, error) {
	if slices.Contains(cfg.Open, r.URL.Path) {
		return Anonymous, 0, nil
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		return "User:" + r.TLS.VerifiedChains[0][0].Subject.String(), 0, nil
	}
	if cfg.Authenticator == nil {
		return Anonymous, 0, nil
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", http.StatusUnauthorized, errors.New("authentication required: send HTTP basic auth credentials")
	}
	p, err := cfg.Authenticator.Authenticate(r.Context(), user, pass)
	switch {
	case err == nil:
		return p, 0, nil
	case errors.Is(err, kafkasec.ErrBadCredentials):
		return "", http.StatusUnauthorized, fmt.Errorf("authentication failed for user %q: bad user name or password", user)
	}
	cfg.Logger.Warn("httpauth: cannot check credentials", "user", user, "err", err)
	return "", http.StatusServiceUnavailable, errors.New("cannot check credentials now; try again")
}

func refuse(w http.ResponseWriter, cfg Config, status int, err error) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q, charset=\"UTF-8\"", cfg.Realm))
	}
	w.Header().Set("Content-Type", cfg.ContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}{status, err.Error()})
}

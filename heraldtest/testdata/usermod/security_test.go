package usermod_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/kafkasec"
	"github.com/heraldhq/herald/registry"
)

// tokenUsers is a service's own kafkasec.Authenticator: a fixed table,
// as a team might back it with its identity provider.
type tokenUsers map[string]string

func (u tokenUsers) Authenticate(_ context.Context, user, password string) (string, error) {
	if pw, ok := u[user]; !ok || pw != password {
		return "", kafkasec.ErrBadCredentials
	}
	return kafkasec.Principal(user), nil
}

// onlyOrders is a service's own registry.Authorizer.
type onlyOrders struct{}

func (onlyOrders) Authorize(_ context.Context, principal, subject string, op registry.Op) (bool, error) {
	topic, _ := registry.SubjectTopic(subject)
	return principal == "User:ci" || topic == "orders" && op == registry.OpRead, nil
}

// TestSecurityFromAnotherModule: a registry behind the service's own
// Authenticator and Authorizer, reached by franz-go's sr client with
// kafkasec's client settings; the settings read from the environment.
func TestSecurityFromAnotherModule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := heraldtest.NewBroker(t)
	var sec kafkasec.Config // the zero Config: plaintext, as heraldtest's broker
	srv, err := registry.New(ctx, registry.Config{
		Brokers: []string{b.Addr()}, Security: sec, Logger: slog.New(slog.DiscardHandler),
		Authenticator: tokenUsers{"ci": "ci-pw", "reader": "reader-pw"}, Authorizer: onlyOrders{},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	client := func(user, pass string) *sr.Client {
		opts, err := kafkasec.RegistryClient{Username: user, Password: pass}.SROpts()
		if err != nil {
			t.Fatal(err)
		}
		cl, err := sr.NewClient(append(opts, sr.URLs(hs.URL))...)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	ci, reader, stranger := client("ci", "ci-pw"), client("reader", "reader-pw"), client("x", "y")
	for _, s := range []string{"orders-value", "payments-value"} {
		if _, err := ci.CreateSchema(ctx, s, sr.Schema{Schema: `"string"`}); err != nil {
			t.Fatalf("ci registers %s: %v", s, err)
		}
	}
	if subs, err := reader.Subjects(ctx); err != nil || strings.Join(subs, ",") != "orders-value" {
		t.Fatalf("reader's subjects: %v %v", subs, err)
	}
	var re *sr.ResponseError
	if _, err := reader.CreateSchema(ctx, "orders-value", sr.Schema{Schema: `"int"`}); !errors.As(err, &re) || re.ErrorCode != registry.CodeForbidden {
		t.Fatalf("reader registers: %v, want error code %d", err, registry.CodeForbidden)
	}
	if _, err := stranger.Subjects(ctx); !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown user: %v, want 401", err)
	}

	t.Setenv(kafkasec.EnvSASLMechanism, kafkasec.SCRAMSHA256)
	t.Setenv(kafkasec.EnvSASLUsername, "svc")
	t.Setenv(kafkasec.EnvSASLPassword, "pw")
	fromEnv, err := kafkasec.FromEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts, err := fromEnv.Opts(); err != nil || len(opts) != 1 {
		t.Fatalf("options from the environment: %d %v", len(opts), err)
	}
}

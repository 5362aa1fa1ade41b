package console_test

import (
	"context"
	"io"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/heraldtest"
	"github.com/heraldhq/herald/internal/heraldtestutil"
)

// env is a broker with a registry, a console in front of it, and clients.
type env struct {
	t   *testing.T
	b   *heraldtest.Broker
	c   *console.Console
	hs  *httptest.Server
	kcl *kgo.Client
	src *sr.Client
}

func newEnv(t *testing.T, opts ...heraldtest.Option) *env {
	t.Helper()
	return newEnvWith(t, nil, opts...)
}

// newEnvWith is newEnv with edit applied to the console's config.
func newEnvWith(t *testing.T, edit func(*console.Config), opts ...heraldtest.Option) *env {
	t.Helper()
	b := heraldtest.NewBroker(t, append([]heraldtest.Option{heraldtest.WithRegistry(), heraldtest.WithAutoCreate(false)}, opts...)...)
	srv := heraldtestutil.Server(b)
	reg, err := srv.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	cfg := console.Config{Brokers: []string{b.Addr()}, RegistryURL: b.RegistryURL(), MaxValueBytes: 1024, LagInterval: 200 * time.Millisecond,
		SampleInterval: 200 * time.Millisecond, Metrics: reg, Tracer: srv.Tracer()}
	if edit != nil {
		edit(&cfg)
	}
	c, err := console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	hs := httptest.NewServer(c)
	t.Cleanup(hs.Close)
	kcl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kcl.Close)
	src, err := sr.NewClient(sr.URLs(b.RegistryURL()))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, b: b, c: c, hs: hs, kcl: kcl, src: src}
}

// produce writes recs and fails the test on an error.
func (e *env) produce(recs ...*kgo.Record) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.kcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		e.t.Fatalf("produce: %v", err)
	}
}

// get fetches path and returns the status and body.
func (e *env) get(path string) (int, string) {
	e.t.Helper()
	resp, err := e.hs.Client().Get(e.hs.URL + path)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// post posts a form (with the page's CSRF token unless form has one).
func (e *env) post(path string, form url.Values) (int, string) {
	e.t.Helper()
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", e.csrf())
	}
	resp, err := e.hs.Client().PostForm(e.hs.URL+path, form)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf reads the form token from the topics page.
func (e *env) csrf() string {
	e.t.Helper()
	_, body := e.get("/topics")
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		e.t.Fatalf("no CSRF token on /topics")
	}
	return m[1]
}

// mustContain fails unless body holds every one of subs.
func mustContain(t *testing.T, what, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Fatalf("%s lacks %q:\n%s", what, s, clip(body))
		}
	}
}

func clip(s string) string {
	if len(s) > 4000 {
		return s[:4000] + "…"
	}
	return s
}

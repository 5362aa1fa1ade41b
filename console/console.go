package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/heraldhq/herald/internal/httpauth"
	"github.com/heraldhq/herald/kafkasec"
	"github.com/heraldhq/herald/registry/serde"
)

// Defaults of Config's zero values.
const (
	// DefaultMaxValueBytes is how much of a record value a page shows.
	DefaultMaxValueBytes = 8 << 10
	// DefaultBrowseLimit is how many records a message page shows.
	DefaultBrowseLimit = 50
	// MaxBrowseLimit bounds the records one page or API call may ask for.
	MaxBrowseLimit = 1000
	// DefaultLagInterval is how often a group page's lag is pushed.
	DefaultLagInterval = 2 * time.Second
)

// Config configures a Console. Brokers is required; the rest is optional.
type Config struct {
	// Brokers are the seed brokers of the Kafka cluster (Herald or any).
	Brokers []string
	// RegistryURL is the schema registry's base URL; empty hides the
	// schema pages and shows registry-encoded values as bytes.
	RegistryURL string
	// ClientOpts are added to the Kafka client's options.
	ClientOpts []kgo.Opt
	// Security is TLS and SASL for the console's Kafka clients. Every
	// console user acts with this identity on the cluster.
	Security kafkasec.Config
	// Registry is how the console reaches a secured registry: TLS
	// (RegistryURL https://...) and basic auth credentials.
	Registry kafkasec.RegistryClient
	// Authenticator, if set, requires HTTP basic auth on every page and
	// API but /healthz and /readyz (a client certificate verified by the
	// listener's mutual TLS also authenticates): 401 with a
	// WWW-Authenticate challenge otherwise. Serve the console over TLS
	// then, or the passwords cross the network in clear.
	Authenticator kafkasec.Authenticator
	// Ready, if set, is asked by /readyz in addition to the cluster
	// answering Metadata (herald serve: log recovery done, listeners up).
	Ready func() error
	// MaxValueBytes is how much of a value the message browser shows
	// before truncating it behind a download link; default 8 KiB.
	MaxValueBytes int
	// LagInterval is how often the group page's lag stream sends; default 2s.
	LagInterval time.Duration
	// Logger receives request errors; default slog.Default().
	Logger *slog.Logger
	// Metrics, when set, is served at /metrics in the Prometheus text
	// format (herald serve: the broker's registry) with the console's
	// HTTP request metrics, and feeds the overview's sparklines. Without
	// it /metrics serves the console's own: its HTTP requests, the
	// cluster's offsets and group lag as last sampled, the Go runtime.
	Metrics prometheus.Gatherer
	// SampleInterval is how often the overview's sparklines and the
	// groups' lag history are sampled; default 5s.
	SampleInterval time.Duration
	// Tracer, when set, answers the flow trace page and API
	// (herald serve: the broker's correlation index).
	Tracer Tracer
	// TraceScanWindow, when Tracer is nil and it is above zero, turns on
	// the fall-back for clusters without the index: a trace reads every
	// topic's records from this long ago to the end (at most
	// TraceScanRecords of them) and keeps the flow's events. `herald
	// console` sets it (--trace-scan-window, default 1h).
	TraceScanWindow time.Duration
	// TraceScanRecords bounds the records one scanning trace reads;
	// default DefaultTraceScanRecords.
	TraceScanRecords int
	// Sagas, when set, adds the saga pages (/sagas): instances by state
	// and type, an instance's steps, history and events, and retry and
	// abort requests. A *saga.Store satisfies it.
	Sagas SagaStore
	// Projections, when set, adds the projections page (/projections):
	// position, lag, state, and rebuild requests. A *projection.Runner
	// satisfies it.
	Projections Projections
	// StreamApps, when set, adds the stream pages (/streams): each stream
	// app by name, and its topology drawn from GET /topology on the base
	// URL of its HTTP handler (stream.App.ServeHTTP). `herald console`
	// and `herald serve` set it with --stream-app name=URL.
	StreamApps map[string]string
}

// Validate reports every problem of the configuration.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("console: no brokers"))
	}
	if c.MaxValueBytes < 0 {
		errs = append(errs, fmt.Errorf("console: MaxValueBytes %d is negative", c.MaxValueBytes))
	}
	if c.SampleInterval < 0 {
		errs = append(errs, fmt.Errorf("console: SampleInterval %v is negative", c.SampleInterval))
	}
	if c.LagInterval < 0 {
		errs = append(errs, fmt.Errorf("console: LagInterval %v is negative", c.LagInterval))
	}
	if err := c.Security.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("console: Security: %w", err))
	}
	for name, base := range c.StreamApps {
		if err := validStreamApp(name, base); err != nil {
			errs = append(errs, fmt.Errorf("console: StreamApps: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.MaxValueBytes == 0 {
		c.MaxValueBytes = DefaultMaxValueBytes
	}
	if c.LagInterval == 0 {
		c.LagInterval = DefaultLagInterval
	}
	if c.SampleInterval == 0 {
		c.SampleInterval = DefaultSampleInterval
	}
	if c.TraceScanRecords == 0 {
		c.TraceScanRecords = DefaultTraceScanRecords
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Console is the web console and HTTP API: an http.Handler. It is safe for
// concurrent use; Close releases its Kafka client.
type Console struct {
	cfg Config
	kcl *kgo.Client // admin requests and produce; consumers get their own clients
	// manual produces records to the partition they name.
	manual *kgo.Client
	adm    *kadm.Client                  // over kcl
	src    *sr.Client                    // nil without a registry
	sd     *serde.Serde                  // nil without a registry
	dec    *decoder                      // shows record bytes
	csrf   string                        // the token every form posts back
	tmpl   map[string]*template.Template // by page name, each with the layout
	mux    *http.ServeMux
	h      http.Handler // mux behind cross-origin protection
	hist   *history     // the sampled history (history.go)
	httpm  *httpMetrics // the console's HTTP requests (metrics.go)
	// metrics is what /metrics serves (Console.newMetrics).
	metrics prometheus.Gatherer
	// stopSampling stops the sampler, which closes samplerDone when done.
	stopSampling chan struct{}
	samplerDone  chan struct{}
	closeOnce    sync.Once
}

// New returns a Console for the cluster cfg names. It does not wait for the
// cluster: pages that cannot reach it say so, and /readyz fails.
func New(cfg Config) (*Console, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	secOpts, err := cfg.Security.Opts()
	if err != nil {
		return nil, fmt.Errorf("console: Security: %w", err)
	}
	srOpts, err := cfg.Registry.SROpts()
	if err != nil {
		return nil, fmt.Errorf("console: Registry: %w", err)
	}
	c := &Console{cfg: cfg, tmpl: tmpl, csrf: newToken()}
	c.cfg.ClientOpts = append(secOpts, cfg.ClientOpts...)
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, c.cfg.ClientOpts...)
	kcl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("console: kafka client: %w", err)
	}
	manual, err := kgo.NewClient(append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		kcl.Close()
		return nil, fmt.Errorf("console: kafka client: %w", err)
	}
	c.kcl, c.manual, c.adm = kcl, manual, kadm.NewClient(kcl)
	if cfg.RegistryURL != "" {
		if c.src, err = sr.NewClient(append(srOpts, sr.URLs(cfg.RegistryURL))...); err != nil {
			kcl.Close()
			manual.Close()
			return nil, fmt.Errorf("console: registry client: %w", err)
		}
		c.sd = serde.New(c.src)
	}
	c.dec = newDecoder(c.src, c.sd, cfg.MaxValueBytes)
	c.hist, c.httpm = newHistory(), newHTTPMetrics()
	if c.metrics, err = c.newMetrics(); err != nil {
		kcl.Close()
		manual.Close()
		return nil, fmt.Errorf("console: metrics: %w", err)
	}
	c.mux = http.NewServeMux()
	c.routes()
	c.h = httpauth.Wrap(http.NewCrossOriginProtection().Handler(c.mux), httpauth.Config{
		Authenticator: cfg.Authenticator,
		Realm:         "herald console",
		Open:          []string{"/healthz", "/readyz"},
		Logger:        cfg.Logger,
	})
	if c.cfg.Tracer == nil && cfg.TraceScanWindow > 0 {
		c.cfg.Tracer = scanTracer{c: c, window: cfg.TraceScanWindow, max: cfg.TraceScanRecords, idle: time.Second}
	}
	c.stopSampling, c.samplerDone = make(chan struct{}), make(chan struct{})
	go c.sampleLoop(c.stopSampling, c.samplerDone)
	return c, nil
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// ServeHTTP serves the console's pages and APIs. Every answer forbids
// framing (a delete button under another site's page) and any script or
// style not served by the console itself.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	_, route := c.mux.Handler(r)
	if route == "" {
		route = "other"
	}
	c.httpm.observe(route, c.h, w, r)
}

// Close stops the sampler and closes the Kafka client. Streams in flight
// end with their requests. It is idempotent.
func (c *Console) Close() error {
	c.closeOnce.Do(func() { close(c.stopSampling) })
	<-c.samplerDone
	c.kcl.Close()
	c.manual.Close()
	return nil
}

// consumer returns a new Kafka client with the console's options plus opts,
// for a browse or a stream; the caller closes it.
func (c *Console) consumer(opts ...kgo.Opt) (*kgo.Client, error) {
	all := append([]kgo.Opt{kgo.SeedBrokers(c.cfg.Brokers...)}, c.cfg.ClientOpts...)
	cl, err := kgo.NewClient(append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

// ready reports whether the cluster answers and Config.Ready agrees.
func (c *Console) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if c.cfg.Ready != nil {
		if err := c.cfg.Ready(); err != nil {
			return err
		}
	}
	if _, err := c.adm.BrokerMetadata(ctx); err != nil {
		return fmt.Errorf("cluster metadata: %w", err)
	}
	return nil
}

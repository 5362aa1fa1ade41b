package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/kafkasec"
)

// Config configures a Server.
type Config struct {
	// Brokers are the seed brokers of the cluster holding Topic. Ignored
	// when Client is set.
	Brokers []string
	// Client, if set, is used instead of a client built from Brokers; the
	// Server does not close it.
	Client *kgo.Client
	// Topic stores the schemas; "_schemas" if empty. It is created
	// (compacted, one partition) if missing, and recreated from memory
	// if it is deleted while the Server runs.
	Topic string
	// Listen is the address Start listens on, "127.0.0.1:8081" (loopback:
	// the registry has no authentication) if empty.
	Listen string
	// Logger logs; slog.Default() if nil.
	Logger *slog.Logger
	// LenientJSON lets a new JSON Schema add an optional property to an
	// open content model (additionalProperties not false) under BACKWARD
	// rules. Strictly, old data may already carry that property with
	// another type, which is why Confluent rejects it; most teams want it
	// allowed.
	LenientJSON bool
	// WriteTimeout bounds one write to Topic; 30s if zero.
	WriteTimeout time.Duration

	// Security is TLS and SASL for the client built from Brokers; its
	// principal needs to create, read and write Topic and, with
	// TopicACLs, DESCRIBE on the CLUSTER.
	Security kafkasec.Config
	// TLS, if set, makes Start serve HTTPS with it; with client CAs and
	// a client-auth policy in it, mutual TLS, the principal being the
	// certificate's subject. tlsconf.Reloader's ServerConfig reloads the
	// certificate when its files change.
	TLS *tls.Config
	// Authenticator, if set, requires HTTP basic auth on every path but
	// /healthz (a verified client certificate also authenticates): 401
	// with a WWW-Authenticate challenge and {"error_code":401,...}
	// otherwise.
	Authenticator kafkasec.Authenticator
	// Authorizer, if set, decides per subject (TopicACLs: as the topic's
	// ACLs); listings show only the subjects the principal may read, a
	// denied request is answered 403 with error code 40301.
	Authorizer Authorizer
}

func (c *Config) setDefaults() {
	if c.Topic == "" {
		c.Topic = "_schemas"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8081"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Second
	}
}

// Validate reports every problem with the config.
func (c *Config) Validate() error {
	var errs []error
	if c.Client == nil && len(c.Brokers) == 0 {
		errs = append(errs, errors.New("registry: Brokers or Client is required"))
	}
	if c.WriteTimeout < 0 {
		errs = append(errs, errors.New("registry: WriteTimeout is negative"))
	}
	if err := c.Security.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("registry: Security: %w", err))
	}
	return errors.Join(errs...)
}

// Server is a schema registry serving Confluent's REST API, with its state
// in a compacted Kafka topic. Its methods are safe for concurrent use.
type Server struct {
	cfg       Config
	cl        *kgo.Client
	ownClient bool
	formats   map[string]format
	parsed    parsedCache
	metrics   *metrics // request counts (Collector)

	// writeMu serializes writes: read state, produce, apply.
	// Lock order: writeMu before mu. No Kafka IO under mu.
	writeMu sync.Mutex
	mu      sync.RWMutex
	st      *state // guarded by mu
	// gen counts applied writes; validators compare it to refresh.
	gen atomic.Uint64

	httpMu  sync.Mutex
	httpSrv *http.Server
	ln      net.Listener
	closed  bool
}

// New connects to the cluster, creates the topic if missing and reads it
// back to its end before returning, so the Server answers with every
// schema registered before.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Server{cfg: cfg, cl: cfg.Client, st: newState(), metrics: newMetrics()}
	s.formats = map[string]format{
		TypeAvro:     avroFormat{},
		TypeJSON:     jsonFormat{lenient: cfg.LenientJSON},
		TypeProtobuf: protoFormat{},
	}
	if s.cl == nil {
		secOpts, err := cfg.Security.Opts()
		if err != nil {
			return nil, fmt.Errorf("registry: Security: %w", err)
		}
		cl, err := kgo.NewClient(append(secOpts, kgo.SeedBrokers(cfg.Brokers...), kgo.RequiredAcks(kgo.AllISRAcks()))...)
		if err != nil {
			return nil, fmt.Errorf("registry: kafka client: %w", err)
		}
		s.cl, s.ownClient = cl, true
	}
	if err := s.load(ctx); err != nil {
		s.closeClient()
		return nil, fmt.Errorf("registry: %w", err)
	}
	return s, nil
}

func (s *Server) load(ctx context.Context) error {
	if err := ensureTopic(ctx, kadm.NewClient(s.cl), s.cfg.Topic); err != nil {
		return err
	}
	st := newState()
	if err := s.replay(ctx, st); err != nil {
		return err
	}
	s.mu.Lock()
	s.st = st
	s.mu.Unlock()
	s.gen.Add(1)
	return nil
}

// Handler is the REST API, to mount on any HTTP server.
func (s *Server) Handler() http.Handler { return s.metrics.counted(s.routes()) }

// Serve serves the REST API on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	s.httpMu.Lock()
	if s.closed {
		s.httpMu.Unlock()
		return http.ErrServerClosed
	}
	s.httpSrv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.ln = ln
	srv := s.httpSrv
	s.httpMu.Unlock()
	return srv.Serve(ln)
}

// Start listens on Config.Listen and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("registry: listen: %w", err)
	}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	// Addr must answer as soon as Start returns, before Serve runs.
	s.httpMu.Lock()
	s.ln = ln
	s.httpMu.Unlock()
	go func() {
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("registry: serve", "err", err)
		}
	}()
	return nil
}

// Addr is the address Start or Serve listens on, nil before.
func (s *Server) Addr() net.Addr {
	s.httpMu.Lock()
	defer s.httpMu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops serving and closes the Kafka client if the Server made it.
// It is idempotent.
func (s *Server) Close() error {
	s.httpMu.Lock()
	if s.closed {
		s.httpMu.Unlock()
		return nil
	}
	s.closed = true
	srv := s.httpSrv
	s.httpMu.Unlock()
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(ctx)
		cancel()
	}
	s.closeClient()
	return err
}

func (s *Server) closeClient() {
	if s.ownClient {
		s.cl.Close()
	}
}

var _ io.Closer = (*Server)(nil)

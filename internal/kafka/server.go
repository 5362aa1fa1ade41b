package kafka

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/acl"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/group"
	"github.com/heraldhq/herald/internal/quota"
	"github.com/heraldhq/herald/internal/share"
	"github.com/heraldhq/herald/internal/txn"
)

// Defaults for Config.
const (
	DefaultMaxConnections  = 4096
	DefaultMaxRequestBytes = 100 << 20 // Kafka's socket.request.max.bytes
	// DefaultQueuedMaxRequestBytes bounds the request bytes read and not
	// yet handled across all connections (Kafka's
	// queued.max.request.bytes, unbounded there by default).
	DefaultQueuedMaxRequestBytes = 256 << 20
	// DefaultIdleTimeout closes a connection with nothing in flight after
	// this long without a request (Kafka's connections.max.idle.ms).
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultRequestReadTimeout bounds the time from a frame's first byte
	// to its last.
	DefaultRequestReadTimeout = 60 * time.Second
	// DefaultFetchMaxBytes caps a fetch response whatever the client asks
	// (Kafka's fetch.max.bytes).
	DefaultFetchMaxBytes = 55 << 20
	// DefaultAutoCreatePerRequest and DefaultAutoCreatePerSecond bound
	// the topics Metadata requests may create.
	DefaultAutoCreatePerRequest = 100
	DefaultAutoCreatePerSecond  = 100
	// DefaultFailedAuthDelay delays answering a failed SASL
	// authentication (Kafka's connection.failed.authentication.delay.ms).
	DefaultFailedAuthDelay = 100 * time.Millisecond
	// DefaultFailedAuthPerSecond bounds failed SASL authentications per
	// client host.
	DefaultFailedAuthPerSecond = 10
	// maxInFlight bounds the requests one connection may have read but not
	// yet answered; the reader stops reading when it is reached.
	maxInFlight = 128
	// shutdownWriteTimeout bounds how long Close waits for a client to
	// take its last answers.
	shutdownWriteTimeout = 10 * time.Second
	// maxFetchWait caps a fetch's long poll whatever the client asks.
	maxFetchWait = 5 * time.Minute
)

// Config configures a Server.
type Config struct {
	Broker *broker.Broker
	Groups *group.Coordinator // nil: group requests answer COORDINATOR_NOT_AVAILABLE
	// Txn is the transaction coordinator; nil: transactional requests
	// answer COORDINATOR_NOT_AVAILABLE. The producer state (sequence
	// checks, last stable offsets) is the broker's own
	// (Broker.SetProducerState).
	Txn *txn.Coordinator
	// Share is the share-group coordinator (KIP-932); nil: share-group
	// requests answer COORDINATOR_NOT_AVAILABLE.
	Share           *share.Coordinator
	Logger          *slog.Logger
	MaxConnections  int   // connections beyond this are closed at accept; default 4096
	MaxRequestBytes int32 // frames above this close the connection; default 100 MiB
	// QueuedMaxRequestBytes bounds the bytes of requests being read or
	// handled across all connections; a reader waits for room before it
	// reads a frame's body. A frame larger than the budget waits for all
	// of it. Default 256 MiB.
	QueuedMaxRequestBytes int64
	// IdleTimeout closes a connection that has no request in flight and
	// has neither sent a request nor been answered for this long;
	// default 10 minutes.
	IdleTimeout time.Duration
	// RequestReadTimeout closes a connection whose frame has started but
	// not fully arrived after this long (a slow or stalled sender);
	// default 60 seconds.
	RequestReadTimeout time.Duration
	// MaxFetchSessions is the size of the incremental fetch session cache
	// (KIP-227); 0 means DefaultMaxFetchSessions, below 0 turns sessions
	// off (every fetch is a full fetch).
	MaxFetchSessions int
	// FetchMaxBytes caps the record bytes of one fetch response (the
	// first batch may still exceed it, KIP-74); default 55 MiB.
	FetchMaxBytes int32
	// AutoCreatePerRequest and AutoCreatePerSecond bound the topics that
	// Metadata requests create: unknown names beyond them are answered
	// UNKNOWN_TOPIC_OR_PARTITION (retriable) without creating. Defaults
	// 100 and 100 (a burst of 100, refilled at 100 a second).
	AutoCreatePerRequest int
	AutoCreatePerSecond  int
	// AdvertisedHost and AdvertisedPort are what Metadata tells clients
	// to connect to.
	AdvertisedHost string
	AdvertisedPort int32
	NodeID         int32
	// Authorizer decides whether a request may act on a resource (see
	// the access seam in access.go); nil is access.AllowAll.
	Authorizer access.Authorizer
	// ACL is the ACL authorizer CreateAcls, DescribeAcls and DeleteAcls
	// change; nil answers them SECURITY_DISABLED, as Kafka without an
	// authorizer. When set and Authorizer is nil, it is the Authorizer.
	ACL *acl.Authorizer
	// Observe, when set, is called after every access decision with the
	// request and its answered actions: the hook for an audit log of
	// access decisions. It runs on the request's goroutine, must not
	// block, and must not keep acts.
	Observe func(rc access.Request, acts []access.Action)
	// SASL authenticates connections on SASL_PLAINTEXT and SASL_SSL
	// listeners (sasl.go); nil: such listeners are refused.
	SASL *auth.Authenticator
	// Credentials are the users' SCRAM credentials that
	// AlterUserScramCredentials and DescribeUserScramCredentials change
	// and show; nil: each user's answer there is an error.
	Credentials *auth.Store
	// SessionLifetime is how long a SASL authentication lasts before the
	// client must re-authenticate (KIP-368, connections.max.reauth.ms);
	// 0: for ever, unless an OAUTHBEARER token expires sooner.
	SessionLifetime time.Duration
	// FailedAuthDelay delays the answer to a failed authentication
	// (connection.failed.authentication.delay.ms), after which the
	// connection closes; default 100ms, below 0 none.
	FailedAuthDelay time.Duration
	// FailedAuthPerSecond bounds failed SASL authentications per client
	// host (a bucket of five seconds' worth): beyond it the host's
	// exchanges are refused without looking at the credentials until
	// the bucket refills. Default 10; below 0 no bound.
	FailedAuthPerSecond float64
	// Quotas holds the client quotas DescribeClientQuotas and
	// AlterClientQuotas answer and change, and enforces them (quota.go);
	// nil is an in-memory quota.Manager.
	Quotas *quota.Manager
}

// Server answers Kafka protocol requests on accepted connections.
type Server struct {
	cfg    Config
	b      *broker.Broker
	groups *group.Coordinator
	txn    *txn.Coordinator
	share  *share.Coordinator
	logger *slog.Logger
	auth   access.Authorizer // Config.Authorizer, never nil
	quotas *quota.Manager    // Config.Quotas, never nil
	// testPrincipal, set only by tests (export_test.go) before Serve,
	// names a connection's principal after its client id (see
	// maybeTestPrincipal).
	testPrincipal func(clientID string) access.Principal
	// plain is the listener Serve serves: PLAINTEXT, advertising
	// Config.AdvertisedHost and AdvertisedPort.
	plain Listener

	// die is closed by Close: long polls answer at once, readers stop.
	die    chan struct{}
	nconns atomic.Int32
	// budget bounds the request bytes in memory across connections.
	budget *budget
	// authFails bounds failed SASL authentications per client host.
	authFails *failLimiter
	// stats counts requests and connections (RequestStats).
	stats *requestStats
	// autoCreate rates Metadata's topic auto-creation.
	autoCreate *autoCreateLimiter
	// sessions are the incremental fetch sessions.
	sessions *fetchSessions
	// maxWait caps fetch long polls (maxFetchWait; tests lower it).
	maxWait time.Duration
	wg      sync.WaitGroup // every goroutine the server starts

	mu struct {
		sync.Mutex
		closed bool
		lns    []net.Listener
		conns  map[*conn]struct{}
	}
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.QueuedMaxRequestBytes <= 0 {
		cfg.QueuedMaxRequestBytes = DefaultQueuedMaxRequestBytes
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.RequestReadTimeout <= 0 {
		cfg.RequestReadTimeout = DefaultRequestReadTimeout
	}
	if cfg.MaxFetchSessions == 0 {
		cfg.MaxFetchSessions = DefaultMaxFetchSessions
	}
	if cfg.FetchMaxBytes <= 0 {
		cfg.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if cfg.AutoCreatePerRequest <= 0 {
		cfg.AutoCreatePerRequest = DefaultAutoCreatePerRequest
	}
	if cfg.AutoCreatePerSecond <= 0 {
		cfg.AutoCreatePerSecond = DefaultAutoCreatePerSecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Authorizer == nil && cfg.ACL != nil {
		cfg.Authorizer = cfg.ACL
	}
	if cfg.FailedAuthDelay == 0 {
		cfg.FailedAuthDelay = DefaultFailedAuthDelay
	}
	if cfg.FailedAuthPerSecond == 0 {
		cfg.FailedAuthPerSecond = DefaultFailedAuthPerSecond
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = access.AllowAll{}
	}
	s := &Server{cfg: cfg, b: cfg.Broker, groups: cfg.Groups, txn: cfg.Txn, share: cfg.Share, logger: cfg.Logger, auth: cfg.Authorizer, die: make(chan struct{}), maxWait: maxFetchWait,
		sessions: newFetchSessions(cfg.MaxFetchSessions), authFails: newFailLimiter(cfg.FailedAuthPerSecond), stats: newRequestStats(),
		budget: newBudget(cfg.QueuedMaxRequestBytes), autoCreate: newAutoCreateLimiter(cfg.AutoCreatePerSecond)}
	s.plain = Listener{Name: Plaintext, Protocol: Plaintext, AdvertisedHost: cfg.AdvertisedHost, AdvertisedPort: cfg.AdvertisedPort}
	s.mu.conns = make(map[*conn]struct{})
	if s.quotas = cfg.Quotas; s.quotas == nil {
		s.quotas = quota.New(quota.Config{})
	}
	return s
}

// goTracked runs f in a goroutine that Close waits for. Callers are
// goroutines that are themselves tracked (or accept, under mu before
// closed), so the wait group is never at zero when Add is called.
func (s *Server) goTracked(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Serve accepts PLAINTEXT connections on ln until Close, advertising
// Config.AdvertisedHost and AdvertisedPort. It returns nil after Close
// and otherwise the first accept error that is not passing (see
// retryAccept): running out of descriptors only pauses accepting.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, &s.plain) }

func (s *Server) serve(ln net.Listener, lis *Listener) error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.mu.lns = append(s.mu.lns, ln)
	s.wg.Add(1) // the accept loop itself
	s.mu.Unlock()
	defer s.wg.Done()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.die:
				return nil
			default:
			}
			if !retryAccept(err) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logger.Warn("accept failed; retrying", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.die:
				t.Stop()
				return nil
			}
			continue
		}
		backoff = 0
		s.accept(nc, lis)
	}
}

// retryAccept reports whether an accept error passes: out of descriptors
// or memory, or a connection aborted before it was taken. The listener
// backs off and retries, as net/http does, rather than stop serving while
// the port stays open.
func retryAccept(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

func (s *Server) accept(nc net.Conn, lis *Listener) {
	if int(s.nconns.Add(1)) > s.cfg.MaxConnections {
		s.nconns.Add(-1)
		s.logger.Warn("closing connection: too many connections", "remote", nc.RemoteAddr().String(), "max", s.cfg.MaxConnections)
		nc.Close()
		return
	}
	s.stats.accepted.Add(1)
	c := newConn(s, nc)
	c.lis, c.sasl.required = lis, lis.SASL()
	s.quotaAccept(c)
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		s.nconns.Add(-1)
		nc.Close()
		return
	}
	s.mu.conns[c] = struct{}{}
	s.mu.Unlock()
	s.goTracked(c.readLoop)
	s.goTracked(c.writeLoop)
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.mu.conns, c)
	s.mu.Unlock()
	s.nconns.Add(-1)
}

// Close stops accepting, lets every connection finish the requests it has
// read (long polls answer at once), closes the connections and waits for
// every goroutine. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.mu.closed = true
	close(s.die)
	var errs []error
	for _, ln := range s.mu.lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for c := range s.mu.conns {
		c.stopReading()
		// A client that stopped reading must not hold shutdown forever.
		c.nc.SetWriteDeadline(time.Now().Add(shutdownWriteTimeout))
	}
	s.mu.Unlock()
	s.wg.Wait()
	return errors.Join(errs...)
}

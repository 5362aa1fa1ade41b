// Package server is the composition root of `herald serve`: it opens the
// broker on the data dir, listens (one PLAINTEXT listener on ListenAddr,
// or Config.Listeners with TLS and SASL, see listeners.go and
// security.go), and serves the Kafka protocol.
//
//	srv, err := server.New(server.Config{DataDir: "./herald-data", ListenAddr: "127.0.0.1:9092"})
//	if err != nil { ... }
//	if err := srv.Start(); err != nil { ... }
//	defer srv.Close()
//	fmt.Println("listening on", srv.Addr())
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/acl"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/buildinfo"
	"github.com/heraldhq/herald/internal/corrindex"
	"github.com/heraldhq/herald/internal/group"
	"github.com/heraldhq/herald/internal/kafka"
	"github.com/heraldhq/herald/internal/quota"
	"github.com/heraldhq/herald/internal/records"
	"github.com/heraldhq/herald/internal/share"
	"github.com/heraldhq/herald/internal/tlsconf"
	"github.com/heraldhq/herald/internal/txn"
	"github.com/heraldhq/herald/kafkasec"
)

// Config configures a Server. Zero values take the defaults noted.
type Config struct {
	DataDir string // default "./herald-data"
	// ListenAddr is the Kafka listener, host:port; default
	// "127.0.0.1:9092", loopback only. Herald has no authentication, so
	// listening on another interface must be asked for (":9092" is every
	// interface), and Start logs a warning when it is.
	ListenAddr string
	// AdvertisedAddr is the host:port Metadata tells clients to use;
	// default the listener's address (with localhost for an unspecified
	// host). A port of 0 takes the listener's port.
	AdvertisedAddr string
	// Listeners, when set, replace ListenAddr and AdvertisedAddr: one
	// Kafka listener each, with its protocol (ParseListeners reads
	// Kafka's listeners form). Each client is told the advertised
	// address of the listener it connected to.
	Listeners []Listener
	// TLS is the certificate of SSL and SASL_SSL listeners, reloaded
	// when its files change and on ReloadTLS (SIGHUP).
	TLS TLSConfig
	// SASL configures SASL_PLAINTEXT and SASL_SSL listeners.
	SASL SASLConfig
	// InternalClients says the schema registry or the console run in
	// this process as Kafka clients of it (herald serve). With ACLs on
	// or no PLAINTEXT listener they need a way in: the server then opens
	// an internal SASL listener for them (internal_client.go), and
	// InternalClient says how to reach it.
	InternalClients   bool
	DefaultPartitions int32 // default 1
	// AutoCreateTopics creates topics on Metadata requests for unknown
	// names. New sets it to true only through DefaultConfig; a zero
	// Config has it off.
	AutoCreateTopics bool
	Durability       string // "always" (default), "interval=<duration>", "none"
	MaxConnections   int    // default 4096
	MaxRequestBytes  int32  // default 100 MiB
	// Limits on what one client can make the broker hold (see
	// kafka.Config); zero values take the kafka package's defaults.
	QueuedMaxRequestBytes int64         // request bytes in memory, all connections; default 256 MiB
	IdleTimeout           time.Duration // connections.max.idle.ms; default 10m
	RequestReadTimeout    time.Duration // a started frame must arrive within; default 60s
	FetchMaxBytes         int32         // fetch.max.bytes; default 55 MiB
	MaxFetchSessions      int           // incremental fetch session cache size (max.incremental.fetch.session.cache.slots); default 1000, -1 off
	AutoCreatePerRequest  int           // topics one Metadata request may create; default 100
	AutoCreatePerSecond   int           // topics auto-created a second; default 100
	// MaxDecompressedBytes bounds a compressed batch's records once
	// decompressed (records.SetMaxDecompressed, process-wide); zero
	// keeps the current bound, 64 MiB by default.
	MaxDecompressedBytes int
	// NodeID is this broker's node.id: Metadata, DescribeCluster,
	// FindCoordinator and every answer that names a broker name this one;
	// replica assignments must name it. Default 0; must not be negative.
	NodeID int32
	// Groups configures the group coordinator (session bounds, KIP-848
	// heartbeat interval, offset retention); zero values take Kafka's
	// defaults, except Groups.Group.InitialRebalanceDelay
	// (group.initial.rebalance.delay.ms), whose zero is no delay:
	// DefaultConfig sets Kafka's 3s.
	Groups group.CoordinatorConfig
	// Txn configures the transaction coordinator (timeouts); Broker,
	// Groups and Producers are filled in by New.
	Txn txn.Config
	// Share configures the share-group coordinator (KIP-932); Broker and
	// Logger are set by New.
	Share share.Config
	// OnCorruption is what the broker does when background verification
	// finds damaged log data: "serve" (default) answers fetches of the
	// damaged offsets with CORRUPT_MESSAGE and serves everything else;
	// "stop" shuts the server down (Failed reports why).
	OnCorruption string
	// VerifyBytesPerSec paces background verification; 0 takes
	// broker.DefaultVerifyBytesPerSec, < 0 is no limit.
	VerifyBytesPerSec int64
	// Authorizer decides whether a request may act on a resource
	// (kafka.Config.Authorizer); nil is what AuthorizerKind says.
	Authorizer access.Authorizer
	// AuthorizerKind (--authorizer) is "" or "none", everything allowed
	// (access.AllowAll), or "acl": Kafka's ACLs (internal/acl), durable
	// in the metadata log and changed by CreateAcls and DeleteAcls;
	// default deny.
	AuthorizerKind string
	// SuperUsers (--super-users), under "acl", may do everything:
	// Kafka's super.users form, "User:admin;User:ops".
	SuperUsers string
	// AllowIfNoACL (--allow-if-no-acl), under "acl", allows an action on
	// a resource no ACL names (allow.everyone.if.no.acl.found).
	AllowIfNoACL bool
	// CorrelationIndex indexes every record's CloudEvents correlation
	// and event ids (internal/corrindex) for flow traces; DefaultConfig
	// turns it on.
	CorrelationIndex bool
	Logger           *slog.Logger
}

// DefaultListenAddr is the Kafka listener unless configured: loopback.
const DefaultListenAddr = "127.0.0.1:9092"

// DefaultConfig is the configuration `herald serve` starts from.
func DefaultConfig() Config {
	return Config{
		DataDir:           "./herald-data",
		ListenAddr:        DefaultListenAddr,
		DefaultPartitions: 1,
		AutoCreateTopics:  true,
		Durability:        "always",
		MaxConnections:    kafka.DefaultMaxConnections,
		MaxRequestBytes:   kafka.DefaultMaxRequestBytes,
		OnCorruption:      broker.OnCorruptionServe,
		CorrelationIndex:  true,

		QueuedMaxRequestBytes: kafka.DefaultQueuedMaxRequestBytes,
		IdleTimeout:           kafka.DefaultIdleTimeout,
		RequestReadTimeout:    kafka.DefaultRequestReadTimeout,
		FetchMaxBytes:         kafka.DefaultFetchMaxBytes,
		MaxFetchSessions:      kafka.DefaultMaxFetchSessions,
		AutoCreatePerRequest:  kafka.DefaultAutoCreatePerRequest,
		AutoCreatePerSecond:   kafka.DefaultAutoCreatePerSecond,
		MaxDecompressedBytes:  records.DefaultMaxDecompressed,
		Groups:                group.CoordinatorConfig{Group: group.Config{InitialRebalanceDelay: DefaultInitialRebalanceDelay}},
	}
}

// DefaultInitialRebalanceDelay is Kafka's group.initial.rebalance.delay.ms:
// a new group's first generation waits this long (more for each member
// that joins meanwhile, up to the rebalance timeout), so consumers that
// start together get one rebalance, not one each.
const DefaultInitialRebalanceDelay = 3 * time.Second

// Server is a running Herald broker.
type Server struct {
	cfg    Config
	logger *slog.Logger
	b      *broker.Broker
	g      *group.Coordinator
	pm     *txn.Manager
	tc     *txn.Coordinator
	share  *share.Coordinator
	acl    *acl.Authorizer // nil unless AuthorizerKind is "acl"
	quotas *quota.Manager  // client quotas, durable in the metadata log

	// creds are the users' SCRAM credentials, in the metadata log.
	creds *auth.Store
	// internal is the in-process clients' login on the internal listener
	// (internal_client.go); nil when they use a PLAINTEXT listener.
	internal *kafkasec.Config
	// sasl authenticates SASL listeners; nil when there is none.
	sasl *auth.Authenticator
	// tls serves SSL and SASL_SSL listeners' certificate; nil when
	// there is none.
	tls *tlsconf.Reloader

	mu     sync.Mutex
	lns    []net.Listener // cfg.listeners(), in order
	k      *kafka.Server
	served sync.WaitGroup // the accept loops
	// stopWatch ends the TLS file watch; nil before Start.
	stopWatch func()
	closed    bool
	// index is the correlation index; nil before Start or when off.
	index *corrindex.Index
	// stopVerify cancels background verification; nil before Start.
	stopVerify func()
	// failed receives the error that stopped the server (damage under
	// OnCorruption "stop"); buffered, sent at most once.
	failed   chan error
	failOnce sync.Once
}

// New opens the data dir (replaying the metadata log and opening every
// partition) but does not listen yet.
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "./herald-data"
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = DefaultListenAddr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := broker.ValidateOnCorruption(cfg.OnCorruption); err != nil {
		return nil, err
	}
	if cfg.NodeID < 0 {
		return nil, fmt.Errorf("node id %d: must be 0 or more", cfg.NodeID)
	}
	supers, err := authorizerSettings(cfg)
	if err != nil {
		return nil, err
	}
	internal := cfg.wantsInternal()
	if internal {
		if _, err := cfg.internalMechanism(); err != nil {
			return nil, err
		}
		cfg.addInternalListener()
		supers = append(supers, internalPrincipal)
	}
	if cfg.MaxDecompressedBytes > 0 {
		records.SetMaxDecompressed(cfg.MaxDecompressedBytes)
	}
	broker.RaiseFileLimit(cfg.Logger)
	b, err := broker.Open(broker.Config{
		DataDir:           cfg.DataDir,
		NodeID:            cfg.NodeID,
		DefaultPartitions: cfg.DefaultPartitions,
		AutoCreateTopics:  cfg.AutoCreateTopics,
		Durability:        cfg.Durability,
		ConsumerSession:   cfg.Groups.Consumer.Session,
		ConsumerHeartbeat: cfg.Groups.Consumer.HeartbeatInterval,
		Logger:            cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("open data dir %s: %w", cfg.DataDir, err)
	}
	gcfg := cfg.Groups
	gcfg.Broker, gcfg.Logger = b, cfg.Logger
	gcfg.Consumer.Timeouts = b.ConsumerGroupTimeouts
	g, err := group.OpenCoordinator(gcfg)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open group coordinator: %w", err)
	}
	pm := txn.NewManager(txn.ManagerConfig{Logger: cfg.Logger})
	b.SetProducerState(pm)
	tcfg := cfg.Txn
	tcfg.Broker, tcfg.Groups, tcfg.Producers, tcfg.Logger = b, g, pm, cfg.Logger
	tc, err := txn.Open(tcfg)
	if err != nil {
		g.Close()
		b.Close()
		return nil, fmt.Errorf("open transaction coordinator: %w", err)
	}
	scfg := cfg.Share
	scfg.Broker, scfg.Logger = b, cfg.Logger
	sc, err := share.Open(scfg)
	if err != nil {
		tc.Close()
		g.Close()
		b.Close()
		return nil, fmt.Errorf("open share coordinator: %w", err)
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, b: b, g: g, pm: pm, tc: tc, share: sc, failed: make(chan error, 1)}
	s.quotas = quota.New(quota.Config{Store: b})
	if cfg.AuthorizerKind == "acl" {
		s.acl = acl.New(acl.Config{SuperUsers: supers, AllowIfNoACL: cfg.AllowIfNoACL, Store: b})
		cfg.Logger.Info("ACL authorizer on", "acls", len(b.ACLs()), "super_users", cfg.SuperUsers, "allow_if_no_acl", cfg.AllowIfNoACL)
	}
	if err := s.openSecurity(); err != nil {
		s.closeStores()
		return nil, err
	}
	if internal {
		if err := s.makeInternalUser(); err != nil {
			s.closeStores()
			return nil, err
		}
	}
	return s, nil
}

// authorizerSettings checks the authorizer settings and parses the super
// users.
func authorizerSettings(cfg Config) ([]access.Principal, error) {
	switch cfg.AuthorizerKind {
	case "", "none":
		if cfg.SuperUsers != "" || cfg.AllowIfNoACL {
			return nil, errors.New("--super-users and --allow-if-no-acl need --authorizer acl")
		}
		return nil, nil
	case "acl":
		if cfg.Authorizer != nil {
			return nil, errors.New("authorizer: both a custom Authorizer and \"acl\"")
		}
		return acl.ParseSuperUsers(cfg.SuperUsers)
	}
	return nil, fmt.Errorf("authorizer %q: want none or acl", cfg.AuthorizerKind)
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.k != nil {
		return errors.New("server: already started or closed")
	}
	ls := s.cfg.listeners()
	lns := make([]net.Listener, 0, len(ls))
	kls := make([]kafka.Listener, 0, len(ls))
	for _, l := range ls {
		ln, kl, err := s.listen(l)
		if err != nil {
			for _, o := range lns {
				o.Close()
			}
			return err
		}
		lns, kls = append(lns, ln), append(kls, kl)
	}
	s.lns = lns
	s.k = kafka.New(s.kafkaConfig())
	for i := range lns {
		s.served.Add(1)
		go func() {
			defer s.served.Done()
			if err := s.k.ServeListener(lns[i], kls[i]); err != nil {
				s.logger.Error("kafka listener stopped", "listener", kls[i].Name, "err", err)
			}
		}()
	}
	s.stopWatch = s.watchTLS()
	s.index = s.openIndex()
	s.stopVerify = s.b.StartVerify(broker.VerifyConfig{
		OnCorruption: s.cfg.OnCorruption,
		BytesPerSec:  s.cfg.VerifyBytesPerSec,
		Stop:         s.fail,
	})
	for i, ln := range lns {
		s.logger.Info("herald listening", "listener", kls[i].Name, "protocol", kls[i].Protocol, "addr", ln.Addr().String(),
			"advertised", net.JoinHostPort(kls[i].AdvertisedHost, strconv.Itoa(int(kls[i].AdvertisedPort))))
		if !ls[i].authenticates(s.cfg.TLS) {
			WarnIfExposed(s.logger, "kafka "+kls[i].Name, ln.Addr())
		}
	}
	s.logger.Info("herald started", "node_id", s.cfg.NodeID, "data_dir", s.cfg.DataDir, "durability", s.cfg.Durability, "version", buildinfo.Read().String())
	return nil
}

// listen opens l's socket and describes it for the kafka server.
func (s *Server) listen(l Listener) (net.Listener, kafka.Listener, error) {
	kl := kafka.Listener{Name: l.Name, Protocol: l.Protocol}
	if kl.SASL() && s.sasl == nil {
		return nil, kl, fmt.Errorf("listener %s: no SASL mechanism configured", l.Name)
	}
	if kl.Protocol == kafka.SSL || kl.Protocol == kafka.SASLSSL {
		if s.tls == nil {
			return nil, kl, fmt.Errorf("listener %s: %s needs --tls-cert-file and --tls-key-file", l.Name, l.Protocol)
		}
		kl.TLS = s.tls.ServerConfig()
	}
	ln, err := net.Listen("tcp", l.Addr)
	if err != nil {
		return nil, kl, fmt.Errorf("listen %s (%s): %w", l.Addr, l.Name, err)
	}
	if kl.AdvertisedHost, kl.AdvertisedPort, err = advertised(l.Advertised, ln.Addr()); err != nil {
		ln.Close()
		return nil, kl, err
	}
	return ln, kl, nil
}

func (s *Server) kafkaConfig() kafka.Config {
	return kafka.Config{
		Broker:          s.b,
		Groups:          s.g,
		Share:           s.share,
		Txn:             s.tc,
		Logger:          s.logger,
		MaxConnections:  s.cfg.MaxConnections,
		MaxRequestBytes: s.cfg.MaxRequestBytes,
		NodeID:          s.cfg.NodeID,
		Authorizer:      s.cfg.Authorizer,
		ACL:             s.acl,
		SASL:            s.sasl,
		Credentials:     s.creds,
		SessionLifetime: s.cfg.SASL.SessionLifetime,
		FailedAuthDelay: s.cfg.SASL.FailedAuthDelay,

		FailedAuthPerSecond: s.cfg.SASL.FailedAuthPerSecond,
		Quotas:              s.quotas,

		QueuedMaxRequestBytes: s.cfg.QueuedMaxRequestBytes,
		IdleTimeout:           s.cfg.IdleTimeout,
		RequestReadTimeout:    s.cfg.RequestReadTimeout,
		FetchMaxBytes:         s.cfg.FetchMaxBytes,
		MaxFetchSessions:      s.cfg.MaxFetchSessions,
		AutoCreatePerRequest:  s.cfg.AutoCreatePerRequest,
		AutoCreatePerSecond:   s.cfg.AutoCreatePerSecond,
	}
}

// closeStores closes the coordinators and the broker.
func (s *Server) closeStores() error {
	s.share.Close()
	s.tc.Close()
	s.pm.Close() // snapshots producer state; before the logs close
	s.g.Close()
	return errors.Join(s.b.Sync(), s.b.Close())
}

// Exposed reports whether addr accepts connections from other hosts: any
// listener not bound to a loopback address.
func Exposed(addr net.Addr) bool {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return !ta.IP.IsLoopback()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return true
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// WarnIfExposed logs a warning when the listener named what is reachable
// from other hosts: Herald has no authentication, so anyone who can reach
// it can read, write and delete every topic.
func WarnIfExposed(logger *slog.Logger, what string, addr net.Addr) {
	if Exposed(addr) {
		logger.Warn("listening on a non-loopback address without authentication: anyone who can reach it can read, write and delete all data; "+
			"restrict it with a firewall, or listen on 127.0.0.1", "listener", what, "addr", addr.String())
	}
}

// advertised resolves the address Metadata reports.
func advertised(adv string, ln net.Addr) (string, int32, error) {
	lhost, lport, err := net.SplitHostPort(ln.String())
	if err != nil {
		return "", 0, err
	}
	host, port := lhost, lport
	if adv != "" {
		if host, port, err = net.SplitHostPort(adv); err != nil {
			return "", 0, fmt.Errorf("advertised address %q: %w", adv, err)
		}
		if port == "" || port == "0" {
			port = lport
		}
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("advertised port %q: %w", port, err)
	}
	return host, int32(n), nil
}

// Addr is the first listener's address; nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lns) == 0 {
		return nil
	}
	return s.lns[0].Addr()
}

// ListenerAddr is the address of the listener named name (its protocol
// unless named otherwise); nil before Start or for no such listener.
func (s *Server) ListenerAddr(name string) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, l := range s.cfg.listeners() {
		if l.Name == name && i < len(s.lns) {
			return s.lns[i].Addr()
		}
	}
	return nil
}

// PlaintextAddr is the first PLAINTEXT listener's address, which the
// schema registry and the console (clients of the broker that do not
// authenticate yet) use; nil when there is none.
func (s *Server) PlaintextAddr() net.Addr {
	for _, l := range s.cfg.listeners() {
		if l.Protocol == kafka.Plaintext {
			return s.ListenerAddr(l.Name)
		}
	}
	return nil
}

// Broker is the broker the server serves, for in-process use and tests.
func (s *Server) Broker() *broker.Broker { return s.b }

// SetSchemaValidator installs the schema registry's validator for topics
// with herald.schema.validation=true.
func (s *Server) SetSchemaValidator(v broker.SchemaValidator) { s.b.SetSchemaValidator(v) }

// Groups is the group coordinator (consumer lag, group state).
func (s *Server) Groups() *group.Coordinator { return s.g }

// Failed delivers the error that requires the server to stop (damaged
// log data under OnCorruption "stop"); the owner then calls Close.
func (s *Server) Failed() <-chan error { return s.failed }

// fail reports err on Failed and stops serving.
func (s *Server) fail(err error) {
	s.failOnce.Do(func() {
		s.logger.Error("herald stopping", "err", err)
		s.failed <- err
	})
}

// Close stops accepting, finishes in-flight requests, syncs and closes
// every log. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	k, stopVerify, stopWatch, index := s.k, s.stopVerify, s.stopWatch, s.index
	s.index = nil // Trace answers ErrNoIndex from here on
	s.mu.Unlock()
	var errs []error
	if index != nil {
		errs = append(errs, index.Close())
	}
	if stopVerify != nil {
		stopVerify()
	}
	if stopWatch != nil {
		stopWatch()
	}
	if k != nil {
		// Requests waiting on a group (JoinGroup) hold the kafka
		// server's Close; closing the coordinator first answers them.
		s.g.Close()
		errs = append(errs, k.Close())
		s.served.Wait()
	}
	errs = append(errs, s.closeStores())
	s.logger.Info("herald stopped", "data_dir", s.cfg.DataDir)
	return errors.Join(errs...)
}

package tlsconf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// Files names the PEM files of one side of a TLS connection.
type Files struct {
	Cert string // certificate chain, leaf first
	Key  string // the certificate's private key
	// ClientCA (servers) verifies client certificates; CA (clients)
	// verifies the server's. Empty: the system pool (clients) or no
	// client certificates (servers).
	ClientCA string
	CA       string
	// ClientAuth is the server's policy for client certificates (mutual
	// TLS); with ClientCA set and ClientAuth zero, it is
	// tls.RequireAndVerifyClientCert.
	ClientAuth tls.ClientAuthType
}

// loaded is one reading of a server's files.
type loaded struct {
	cfg *tls.Config
	sum [sha256.Size]byte // of the files' bytes, to skip unchanged reloads
}

// Reloader serves a listener's TLS configuration and replaces it when the
// files change. It is safe for concurrent use.
type Reloader struct {
	files  Files
	logger *slog.Logger
	cur    atomic.Pointer[loaded]
}

// NewReloader reads the files once; it fails when they are missing,
// unparsable or the key does not match the certificate.
func NewReloader(f Files, logger *slog.Logger) (*Reloader, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, errors.New("tls: a certificate file and a key file are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{files: f, logger: logger}
	l, err := load(f)
	if err != nil {
		return nil, err
	}
	r.cur.Store(l)
	return r, nil
}

// ServerConfig is the configuration to give tls.NewListener or
// http.Server: each handshake takes the current certificate and client
// CA pool.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.cur.Load().cfg, nil
		},
	}
}

// Reload reads the files again. On error it keeps the configuration it
// had and returns the error; it reports whether anything changed.
func (r *Reloader) Reload() (changed bool, err error) {
	l, err := load(r.files)
	if err != nil {
		return false, err
	}
	if l.sum == r.cur.Load().sum {
		return false, nil
	}
	r.cur.Store(l)
	return true, nil
}

// Watch reloads every interval until ctx ends, logging reloads and
// failures. Operators can also call Reload from a SIGHUP handler.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.reloadAndLog()
		}
	}
}

func (r *Reloader) reloadAndLog() {
	changed, err := r.Reload()
	switch {
	case err != nil:
		r.logger.Error("tls reload failed; keeping the previous certificate", "cert", r.files.Cert, "err", err)
	case changed:
		r.logger.Info("tls certificate reloaded", "cert", r.files.Cert)
	}
}

// Leaf is the current certificate's leaf, parsed.
func (r *Reloader) Leaf() *x509.Certificate {
	return r.cur.Load().cfg.Certificates[0].Leaf
}

func load(f Files) (*loaded, error) {
	certPEM, err := os.ReadFile(f.Cert)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	keyPEM, err := os.ReadFile(f.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls: %s and %s: %w", f.Cert, f.Key, err)
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write(keyPEM)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if f.ClientCA != "" {
		caPEM, err := os.ReadFile(f.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		h.Write(caPEM)
		pool, err := pool(f.ClientCA, caPEM)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = f.ClientAuth
		if cfg.ClientAuth == tls.NoClientCert {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	l := &loaded{cfg: cfg}
	copy(l.sum[:], h.Sum(nil))
	return l, nil
}

func pool(name string, pemBytes []byte) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(bytes.TrimSpace(pemBytes)) {
		return nil, fmt.Errorf("tls: %s holds no PEM certificate", name)
	}
	return p, nil
}

// Client builds a client configuration: the server verified against
// f.CA (the system pool when empty), a client certificate when f.Cert
// and f.Key are set (mutual TLS). serverName overrides the name checked
// against the server's certificate (empty: the dialled host).
func Client(f Files, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if f.CA != "" {
		caPEM, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		if cfg.RootCAs, err = pool(f.CA, caPEM); err != nil {
			return nil, err
		}
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, errors.New("tls: a client certificate needs both its certificate and key files")
	}
	if f.Cert != "" {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

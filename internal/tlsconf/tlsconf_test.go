package tlsconf_test

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"net"
	"os"
	"testing"

	"github.com/heraldhq/herald/internal/tlsconf"
	"github.com/heraldhq/herald/internal/tlsconf/tlstest"
)

// handshake dials ln with cfg and returns the server's leaf common name.
func handshake(t *testing.T, ln net.Listener, cfg *tls.Config) (string, error) {
	t.Helper()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_ = c.(*tls.Conn).Handshake()
		_ = c.Close()
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

func TestReloadSwapsCertificateAndKeepsOldOnBadFiles(t *testing.T) {
	p := tlstest.New(t, "alice")
	r, err := tlsconf.NewReloader(tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(tcp, r.ServerConfig())
	defer ln.Close()
	client, err := tlsconf.Client(tlsconf.Files{CA: p.CA}, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if cn, err := handshake(t, ln, client); err != nil || cn != "localhost" {
		t.Fatalf("first handshake: %q %v", cn, err)
	}
	if changed, err := r.Reload(); changed || err != nil {
		t.Fatalf("reload of unchanged files: changed=%v err=%v", changed, err)
	}

	// Rotate: a new certificate with another common name.
	cert, key := p.Issue(t, "rotated", pkix.Name{CommonName: "rotated"}, true)
	mustCopy(t, cert, p.ServerCert)
	mustCopy(t, key, p.ServerKey)
	if changed, err := r.Reload(); !changed || err != nil {
		t.Fatalf("reload after rotation: changed=%v err=%v", changed, err)
	}
	if cn, err := handshake(t, ln, client); err != nil || cn != "rotated" {
		t.Fatalf("after rotation: %q %v", cn, err)
	}

	// A half-written key file: the reload fails, the listener keeps serving.
	if err := os.WriteFile(p.ServerKey, []byte("-----BEGIN EC PRIVATE KEY-----\ngarbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reload(); err == nil {
		t.Fatal("reload of a damaged key succeeded")
	}
	if cn, err := handshake(t, ln, client); err != nil || cn != "rotated" {
		t.Fatalf("after a failed reload: %q %v", cn, err)
	}
}

func TestMutualTLSRequiresClientCertificate(t *testing.T) {
	p := tlstest.New(t, "alice")
	r, err := tlsconf.NewReloader(tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey, ClientCA: p.CA}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(tcp, r.ServerConfig())
	defer ln.Close()
	anon, _ := tlsconf.Client(tlsconf.Files{CA: p.CA}, "localhost")
	if _, err := handshakeRead(t, ln, anon); err == nil {
		t.Fatal("a client without a certificate completed a mutual-TLS handshake")
	}
	withCert, err := tlsconf.Client(tlsconf.Files{CA: p.CA, Cert: p.ClientCert, Key: p.ClientKey}, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handshakeRead(t, ln, withCert); err != nil {
		t.Fatalf("client with a certificate: %v", err)
	}
}

// handshakeRead is handshake for mutual TLS, where a TLS 1.3 client only
// learns of its rejection when it reads.
func handshakeRead(t *testing.T, ln net.Listener, cfg *tls.Config) (string, error) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if c.(*tls.Conn).Handshake() == nil {
			_, _ = c.Write([]byte{1})
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
	if err != nil {
		<-done
		return "", err
	}
	defer c.Close()
	_, err = c.Read(make([]byte, 1))
	<-done
	return "", err
}

func TestNewReloaderRejectsMismatchedKey(t *testing.T) {
	p := tlstest.New(t, "alice")
	if _, err := tlsconf.NewReloader(tlsconf.Files{Cert: p.ServerCert, Key: p.ClientKey}, nil); err == nil {
		t.Fatal("a key of another certificate was accepted")
	}
	if _, err := tlsconf.Client(tlsconf.Files{Cert: p.ClientCert}, ""); err == nil {
		t.Fatal("a client certificate without its key was accepted")
	}
}

func mustCopy(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

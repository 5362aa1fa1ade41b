package pubsub_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/kafkasec"
	"github.com/heraldhq/herald/pubsub"
)

// A Router and a Publisher on a SASL_SSL listener: TLS verified against
// the cluster's CA, SCRAM-SHA-512 credentials. The same kafkasec.Config
// serves the CLI (--tls-ca-file, --sasl-*), the registry and the console.
func Example_saslSSL() {
	caFile, serverTLS, cleanup := exampleCA()
	defer cleanup()
	// The cluster: kfake here, Herald, Apache Kafka or Redpanda in production.
	cluster, _ := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"), kfake.TLS(serverTLS),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "billing-svc", "s3cret"))
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	sec := kafkasec.Config{ // or kafkasec.FromEnv(nil): HERALD_TLS_CA_FILE, HERALD_SASL_*
		TLS:  kafkasec.TLS{CAFile: caFile},
		SASL: kafkasec.SASL{Mechanism: kafkasec.SCRAMSHA512, Username: "billing-svc", Password: "s3cret"},
	}

	// The Router takes the settings as a field...
	r, err := pubsub.NewRouter(pubsub.RouterConfig{Brokers: brokers, Group: "billing", Security: sec, Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	// ...a Publisher's client takes them as kgo options.
	opts, err := sec.Opts()
	if err != nil {
		fmt.Println(err)
		return
	}
	cl, _ := kgo.NewClient(append(opts, kgo.SeedBrokers(brokers...))...)
	defer cl.Close()

	type Order struct{ ID string }
	pub := pubsub.NewPublisher(cl, pubsub.WithSource("/shop"))
	if _, err := pub.PublishValue(context.Background(), "orders", "order.placed", "o-1", Order{ID: "o-1"}); err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan struct{})
	r.Handle("orders", pubsub.Typed(event.JSON, func(_ context.Context, m *pubsub.Message, o Order) error {
		fmt.Println(m.Event.Type, o.ID)
		close(done)
		return nil
	}))
	go r.Run(context.Background())
	<-done
	r.Close()
	// Output: order.placed o-1
}

// exampleCA writes a throwaway CA certificate to a temporary file and
// returns it with a server configuration for 127.0.0.1 signed by it.
func exampleCA() (caFile string, server *tls.Config, cleanup func()) {
	dir, _ := os.MkdirTemp("", "herald-example")
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	caFile = filepath.Join(dir, "ca.pem")
	_ = os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	server = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	return caFile, server, func() { os.RemoveAll(dir) }
}

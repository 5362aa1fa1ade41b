// Package kafkasec is how Herald's clients (the CLI, the SDK, the
// registry and the console) secure their Kafka connections, with the
// settings Kafka operators already use: TLS (Kafka's SSL), mutual TLS,
// and SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER. One
// Config maps to franz-go options in one place, so every component
// reads the same settings the same way.
//
// In code:
//
//	sec := kafkasec.Config{
//		TLS:  kafkasec.TLS{CAFile: "/etc/herald/ca.pem"},
//		SASL: kafkasec.SASL{Mechanism: kafkasec.SCRAMSHA512, Username: "orders", Password: pw},
//	}
//	opts, err := sec.Opts() // reads the CA file; an error names what is wrong
//	if err != nil { ... }
//	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers("kafka:9093"))...)
//	// or, for the SDK: pubsub.RouterConfig{ClientOpts: opts, ...}
//
// From the environment (the CLI's flags have the same names):
//
//	sec, err := kafkasec.FromEnv(nil) // HERALD_TLS_*, HERALD_SASL_*; see env.go
//
// TLS is on when TLS.Enabled is set or any TLS file is given. SASL is
// on when SASL.Mechanism is set. An OAUTHBEARER token file is read again
// at every authentication, so rotating the file rotates the token.
//
// # HTTP listeners
//
// The schema registry and the console take an Authenticator for HTTP
// basic auth. ClusterAuthenticator checks a user name and password by
// authenticating to the Kafka cluster with them (a SASL handshake) and
// caches a success briefly, which is what a registry in front of any
// Kafka cluster can do; Herald's broker may offer its credential store
// directly. ClusterACLs answers "may this principal do this to that
// resource" from the cluster's ACLs (DescribeAcls), for the registry's
// subject authorization.
//
// A Config is a plain value and safe to copy; ClusterAuthenticator and
// ClusterACLs are safe for concurrent use.
//
// RegistryClient is the client side of a secured schema registry (HTTPS,
// basic auth) as franz-go sr options.
package kafkasec

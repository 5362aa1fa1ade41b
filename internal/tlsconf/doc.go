// Package tlsconf builds the TLS configurations of Herald's listeners and
// clients from PEM files, and reloads a listener's certificate when its
// files change or when the operator asks (SIGHUP), without a restart.
//
// A listener:
//
//	r, err := tlsconf.NewReloader(tlsconf.Files{
//		Cert: "server.pem", Key: "server-key.pem",
//		ClientCA: "ca.pem", ClientAuth: tls.RequireAndVerifyClientCert,
//	}, logger)
//	if err != nil { ... }        // unreadable or mismatched files
//	go r.Watch(ctx, 10*time.Second) // reload on change; r.Reload() on SIGHUP
//	ln := tls.NewListener(tcpLn, r.ServerConfig())
//
// A reload that fails (a half-written file, a key that does not match its
// certificate) keeps serving the previous certificate and logs the error:
// a rotation mistake never takes a listener down. New handshakes use the
// new certificate; established connections keep theirs.
//
// A client:
//
//	cfg, err := tlsconf.Client(tlsconf.Files{CA: "ca.pem", Cert: "client.pem", Key: "client-key.pem"}, "")
package tlsconf

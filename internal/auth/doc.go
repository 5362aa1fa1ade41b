// Package auth is the broker's side of SASL authentication: the PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER exchanges, the store of
// users' SCRAM credentials, and the JWT validation of OAUTHBEARER tokens.
// The kafka package drives the exchanges from SaslHandshake and
// SaslAuthenticate; the store is kept in the metadata log (records
// set_scram and delete_scram) and changed by AlterUserScramCredentials.
//
//	store := auth.NewStore(state.Scram, metaLog.Append)
//	store.Bootstrap("admin", os.Getenv("HERALD_SASL_BOOTSTRAP_PASSWORD"))
//	v, _ := auth.NewOAuthValidator(auth.OAuthConfig{JWKS: "/etc/herald/jwks.json", Issuer: "https://idp", Audience: "herald"})
//	a, _ := auth.NewAuthenticator(store, v, nil) // every mechanism
//	x, ok := a.Start("SCRAM-SHA-512")
//	resp, done, err := x.Next(clientFirst) // ... until done
//	principal := x.Result().Principal      // User:alice
//
//	p, err := store.Verify("alice", password) // HTTP basic auth, PLAIN
//
// What is stored: per user and SCRAM mechanism the salt, the iterations
// (4096 to 16384, Kafka's bounds), StoredKey and ServerKey (see
// scram.go); never the password. PLAIN checks a password by deriving
// StoredKey with the credential's salt and iterations and comparing in
// constant time, so PLAIN and SCRAM share one set of users.
//
// Errors: every failure a client causes is errors.Is(err, ErrFailed) and
// its text is what SaslAuthenticate tells the client. A SCRAM exchange
// for an unknown user proceeds with a decoy salt and fails at the proof,
// and PLAIN derives a decoy key, so neither tells which users exist.
//
// Principals: a SASL user is access.Principal{Type: "User", Name: user};
// an OAUTHBEARER token's is its sub claim (OAuthConfig.PrincipalClaim).
package auth

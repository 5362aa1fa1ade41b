package kafkasec

import (
	"errors"
	"fmt"
	"os"
	"strconv"
)

// The environment variables FromEnv reads; the CLI's flags of the same
// name (--tls-ca-file is HERALD_TLS_CA_FILE) win over them.
//
//	HERALD_TLS_ENABLED               true: TLS with the system's roots
//	HERALD_TLS_CA_FILE               PEM CA to verify brokers (turns TLS on)
//	HERALD_TLS_CERT_FILE             client certificate, mutual TLS (turns TLS on)
//	HERALD_TLS_KEY_FILE              its key
//	HERALD_TLS_INSECURE_SKIP_VERIFY  true: accept any certificate (tests only)
//	HERALD_TLS_SERVER_NAME           name to verify instead of the dialled host
//	HERALD_SASL_MECHANISM            PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER
//	HERALD_SASL_USERNAME
//	HERALD_SASL_PASSWORD
//	HERALD_SASL_OAUTH_TOKEN          an OAUTHBEARER token (JWT)
//	HERALD_SASL_OAUTH_TOKEN_FILE     a file holding one, read at each authentication
const (
	EnvTLSEnabled            = "HERALD_TLS_ENABLED"
	EnvTLSCAFile             = "HERALD_TLS_CA_FILE"
	EnvTLSCertFile           = "HERALD_TLS_CERT_FILE"
	EnvTLSKeyFile            = "HERALD_TLS_KEY_FILE"
	EnvTLSInsecureSkipVerify = "HERALD_TLS_INSECURE_SKIP_VERIFY"
	EnvTLSServerName         = "HERALD_TLS_SERVER_NAME"
	EnvSASLMechanism         = "HERALD_SASL_MECHANISM"
	EnvSASLUsername          = "HERALD_SASL_USERNAME"
	EnvSASLPassword          = "HERALD_SASL_PASSWORD"
	EnvSASLOAuthToken        = "HERALD_SASL_OAUTH_TOKEN"
	EnvSASLOAuthTokenFile    = "HERALD_SASL_OAUTH_TOKEN_FILE"
)

// FromEnv reads a Config from the HERALD_TLS_* and HERALD_SASL_*
// environment variables (os.LookupEnv when lookup is nil). A variable
// that is not set leaves its field zero; a malformed boolean is an
// error. The result is not validated: call Opts or Validate.
func FromEnv(lookup func(string) (string, bool)) (Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var c Config
	var errs []error
	str := func(name string, dst *string) {
		if v, ok := lookup(name); ok {
			*dst = v
		}
	}
	boolean := func(name string, dst *bool) {
		v, ok := lookup(name)
		if !ok || v == "" {
			return
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want true or false", name, v))
		}
		*dst = b
	}
	boolean(EnvTLSEnabled, &c.TLS.Enabled)
	str(EnvTLSCAFile, &c.TLS.CAFile)
	str(EnvTLSCertFile, &c.TLS.CertFile)
	str(EnvTLSKeyFile, &c.TLS.KeyFile)
	boolean(EnvTLSInsecureSkipVerify, &c.TLS.InsecureSkipVerify)
	str(EnvTLSServerName, &c.TLS.ServerName)
	str(EnvSASLMechanism, &c.SASL.Mechanism)
	str(EnvSASLUsername, &c.SASL.Username)
	str(EnvSASLPassword, &c.SASL.Password)
	str(EnvSASLOAuthToken, &c.SASL.Token)
	str(EnvSASLOAuthTokenFile, &c.SASL.TokenFile)
	return c, errors.Join(errs...)
}

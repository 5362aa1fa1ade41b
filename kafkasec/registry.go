package kafkasec

import (
	"github.com/twmb/franz-go/pkg/sr"
)

// RegistryClient is how a client reaches a secured schema registry:
// HTTPS verified with TLS (or a client certificate for mutual TLS) and
// HTTP basic auth. The zero value is plain HTTP without credentials.
type RegistryClient struct {
	TLS                TLS
	Username, Password string
}

// SROpts returns the franz-go sr.Client options that apply the
// settings. The registry URL must be https:// when TLS is on.
func (r RegistryClient) SROpts() ([]sr.ClientOpt, error) {
	var opts []sr.ClientOpt
	tc, err := Config{TLS: r.TLS}.TLSConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, sr.DialTLSConfig(tc))
	}
	if r.Username != "" || r.Password != "" {
		opts = append(opts, sr.BasicAuth(r.Username, r.Password))
	}
	return opts, nil
}

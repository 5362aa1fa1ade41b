package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleApiVersions answers from the dispatch table, so clients negotiate
// down to what Herald implements.
func handleApiVersions(s *Server, r *request) (kmsg.Response, error) {
	resp := r.kreq.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = appendApiKeys(resp.ApiKeys, s.txn != nil)
	return resp, nil
}

// unsupportedApiVersions is the answer to an ApiVersions request at a
// version Herald does not know: v0, UNSUPPORTED_VERSION, with the table.
func unsupportedApiVersions(s *Server) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = appendApiKeys(resp.ApiKeys, s.txn != nil)
	return resp
}

// txnKeys are the requests that need a transaction coordinator: a server
// without one leaves them out, so that clients turn idempotence and
// transactions off instead of failing.
var txnKeys = map[int16]bool{22: true, 24: true, 25: true, 26: true, 28: true, 65: true, 66: true}

func appendApiKeys(dst []kmsg.ApiVersionsResponseApiKey, withTxn bool) []kmsg.ApiVersionsResponseApiKey {
	for _, a := range apis {
		if !withTxn && txnKeys[a.key] {
			continue
		}
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
		dst = append(dst, k)
	}
	return dst
}

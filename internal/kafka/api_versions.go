package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleApiVersions answers from the dispatch table, so clients negotiate
// down to what Herald implements.
func handleApiVersions(_ *Server, r *request) (kmsg.Response, error) {
	resp := r.kreq.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = appendApiKeys(resp.ApiKeys)
	return resp, nil
}

// unsupportedApiVersions is the answer to an ApiVersions request at a
// version Herald does not know: v0, UNSUPPORTED_VERSION, with the table.
func unsupportedApiVersions() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = appendApiKeys(resp.ApiKeys)
	return resp
}

func appendApiKeys(dst []kmsg.ApiVersionsResponseApiKey) []kmsg.ApiVersionsResponseApiKey {
	for _, a := range apis {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
		dst = append(dst, k)
	}
	return dst
}

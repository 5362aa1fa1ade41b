package acl

import (
	"testing"

	"github.com/heraldhq/herald/internal/access"
)

// BenchmarkAuthorize: one check on the produce path (WRITE on a topic,
// the per-partition question) with 10,000 bindings against AllowAll, the
// default; compare the ns/op of the sub-benchmarks as ratios.
//
//	go test -run ^$ -bench Authorize -benchmem ./internal/acl/
func BenchmarkAuthorize(b *testing.B) {
	big := bigAuthorizer(b, 10000)
	rc := access.Request{Principal: user("u-42"), ClientHost: "10.0.0.1"}
	for _, c := range []struct {
		name string
		a    access.Authorizer
		act  access.Action
	}{
		{"AllowAll", access.AllowAll{}, access.Action{Op: access.Write, Type: access.Topic, Name: "topic-42"}},
		{"ACL10k/literal", big, access.Action{Op: access.Write, Type: access.Topic, Name: "topic-42"}},
		{"ACL10k/prefixed", big, access.Action{Op: access.Write, Type: access.Topic, Name: "pre-42-orders"}},
		{"ACL10k/denied", big, access.Action{Op: access.Read, Type: access.Topic, Name: "topic-43"}},
		{"ACL10k/idempotent", big, access.Action{Op: access.IdempotentWrite, Type: access.Cluster, Name: access.ClusterName}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			acts := make([]access.Action, 1)
			for i := 0; i < b.N; i++ {
				acts[0] = c.act
				c.a.Authorize(rc, acts)
			}
		})
	}
}

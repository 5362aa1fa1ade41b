package kafka

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/acl"
)

// BenchmarkProduceACL: BenchmarkProduce's request (16 records of 1 KiB)
// with the default AllowAll and with the ACL authorizer holding 10,000
// ACLs (the producer's WRITE among them), side by side: what an ACL check
// costs the produce path.
//
//	go test -run ^$ -bench ProduceACL -benchmem ./internal/kafka/
func BenchmarkProduceACL(b *testing.B) {
	many := make([]acl.Binding, 0, 10000)
	for i := 0; len(many) < cap(many)-1; i++ {
		p := fmt.Sprintf("User:u-%d", i)
		many = append(many,
			acl.Binding{Principal: p, Host: "*", Type: access.Topic, Name: fmt.Sprintf("t-%d", i), Pattern: acl.Literal, Op: access.Write, Permission: acl.Allow},
			acl.Binding{Principal: p, Host: "*", Type: access.Topic, Name: fmt.Sprintf("p-%d-", i), Pattern: acl.Prefixed, Op: access.Read, Permission: acl.Allow})
	}
	many = append(many, acl.Binding{Principal: access.Anonymous.String(), Host: "*", Type: access.Topic, Name: "t", Pattern: acl.Literal, Op: access.Write, Permission: acl.Allow})
	a := acl.New(acl.Config{})
	if err := a.Create(many); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  Config
	}{{"AllowAll", Config{}}, {"ACL10k", Config{ACL: a}}} {
		b.Run(c.name, func(b *testing.B) {
			s, conn := benchServerWith(b, c.cfg)
			batch := makeBatch(16, 1024, time.Now().UnixMilli())
			frame := kmsg.NewRequestFormatter().AppendRequest(nil, produceReq(9, "t", 0, batch), 1)[4:]
			work := make([]byte, len(frame))
			var out []byte
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				copy(work, frame)
				p := s.handle(conn, work)
				if p.err != nil || p.done != nil {
					b.Fatal(p.err)
				}
				if code := p.resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
					b.Fatalf("produce answered %d", code)
				}
				out = appendResponse(out[:0], p.corr, p.resp)
			}
		})
	}
}

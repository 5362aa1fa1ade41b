package kafka

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func metadataReq(version int16, allow bool, names ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(version)
	req.AllowAutoTopicCreation = allow
	for _, n := range names {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// TestAutoCreatePerRequestLimit: one Metadata request naming 1,000
// unknown topics creates only the per-request limit; the others are
// answered UNKNOWN_TOPIC_OR_PARTITION and do not exist.
func TestAutoCreatePerRequestLimit(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.AutoCreatePerRequest, c.AutoCreatePerSecond = 5, 1000 })
	c := ts.dial(t)
	resp := c.roundTrip(metadataReq(9, true, names("many", 1000)...)).(*kmsg.MetadataResponse)
	created := 0
	for _, mt := range resp.Topics {
		switch mt.ErrorCode {
		case 0:
			created++
		case kerr.UnknownTopicOrPartition.Code:
		default:
			t.Fatalf("topic %s: error %d", *mt.Topic, mt.ErrorCode)
		}
	}
	if created != 5 || len(ts.b.Topics()) != 5 {
		t.Fatalf("%d topics answered as created, %d exist; want 5", created, len(ts.b.Topics()))
	}
}

// TestAutoCreatePerSecondLimit: requests in quick succession create no
// more than the rate allows over the time they took.
func TestAutoCreatePerSecondLimit(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.AutoCreatePerRequest, c.AutoCreatePerSecond = 100, 2 })
	c := ts.dial(t)
	start := time.Now()
	for i := range 5 {
		c.roundTrip(metadataReq(9, true, names(fmt.Sprint("rate", i), 20)...))
	}
	elapsed := time.Since(start)
	if n, allowed := len(ts.b.Topics()), 2+int(2*elapsed.Seconds())+1; n > allowed {
		t.Fatalf("%d topics created in %v at 2 a second (burst 2)", n, elapsed)
	}
	checkFor(t, 10*time.Second, "creation resumes as the rate allows", func() bool {
		c.roundTrip(metadataReq(9, true, "later"))
		return ts.b.Topic("later") != nil
	})
}

// TestAutoCreateOnlyWhenAllowed: a Metadata request that does not allow
// auto-creation (v4+) and invalid names create nothing.
func TestAutoCreateOnlyWhenAllowed(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t)
	resp := c.roundTrip(metadataReq(9, false, "described")).(*kmsg.MetadataResponse)
	if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code || ts.b.Topic("described") != nil {
		t.Fatalf("describing an unknown topic: error %d, created %v", resp.Topics[0].ErrorCode, ts.b.Topic("described") != nil)
	}
	resp = c.roundTrip(metadataReq(9, true, "bad name!", "..")).(*kmsg.MetadataResponse)
	for _, mt := range resp.Topics {
		if mt.ErrorCode != kerr.InvalidTopicException.Code {
			t.Fatalf("topic %q: error %d, want INVALID_TOPIC_EXCEPTION", *mt.Topic, mt.ErrorCode)
		}
	}
	if n := len(ts.b.Topics()); n != 0 {
		t.Fatalf("%d topics created", n)
	}
}

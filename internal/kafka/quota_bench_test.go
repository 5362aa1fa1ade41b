package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/quota"
)

// BenchmarkQuotaProduce: the produce path (handle, the writer's quota
// step, encode) of BenchmarkProduce with quotas off, on for another
// client (every request resolves and misses), and on for this client (a
// rate too high to throttle: every request is measured). Compare ns/op
// and allocs/op across the three in one run:
//
//	go test -run '^$' -bench BenchmarkQuotaProduce -benchmem -count 5 ./internal/kafka
func BenchmarkQuotaProduce(b *testing.B) {
	for _, mode := range []string{"off", "other-client", "measured"} {
		b.Run(mode, func(b *testing.B) {
			s, c := benchServer(b)
			switch mode {
			case "other-client":
				benchQuota(b, s, "someone-else")
			case "measured":
				benchQuota(b, s, "bench")
			}
			batch := makeBatch(16, 1024, time.Now().UnixMilli())
			frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, produceReq(9, "t", 0, batch), 1)[4:]
			work := make([]byte, len(frame))
			var out []byte
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				copy(work, frame)
				p := s.handle(c, work)
				if p.err != nil || p.done != nil || p.throttle != 0 {
					b.Fatal(p.err, p.throttle)
				}
				c.quotaRespond(p)
				out = appendResponse(out[:0], p.corr, p.resp)
			}
		})
	}
}

func benchQuota(b *testing.B, s *Server, clientID string) {
	err := s.quotas.Alter([]quota.Alteration{{Entity: quota.Entity{quota.ClientID: clientID},
		Ops: []quota.Op{{Key: quota.ProducerByteRate, Value: 1 << 50}, {Key: quota.RequestPercentage, Value: 1e9}}}}, false)
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkQuotaAccuracy: a franz-go producer and consumer held to three
// byte rates for about 3 s each; reports the broker-measured rate and the
// client-side rate as ratios of the quota (1.00 is exact). The consumer
// reads a backlog of 4 s of its quota with 64 KiB fetches. One run is
// one measurement:
//
//	go test -run '^$' -bench BenchmarkQuotaAccuracy -benchtime 1x ./internal/kafka
func BenchmarkQuotaAccuracy(b *testing.B) {
	for _, q := range []float64{256 << 10, 1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("produce-%.0fKiB", q/1024), func(b *testing.B) {
			ts := startServer(b, nil)
			makeTopic(b, ts, "p")
			benchSetQuota(b, ts, "slow", quota.ProducerByteRate, q)
			for b.Loop() {
				n, d := produceFor(b, ts.addr, "slow", &throttles{}, 3*time.Second, 1<<62)
				b.ReportMetric(ts.s.quotas.Rate(quota.Produce, "ANONYMOUS", "slow")/q, "broker/quota")
				b.ReportMetric(float64(n)/d.Seconds()/q, "acked/quota")
			}
		})
		b.Run(fmt.Sprintf("fetch-%.0fKiB", q/1024), func(b *testing.B) {
			ts := startServer(b, nil)
			makeTopic(b, ts, "p")
			produceFor(b, ts.addr, "loader", &throttles{}, 30*time.Second, int64(4*q))
			benchSetQuota(b, ts, "slowc", quota.ConsumerByteRate, q)
			for b.Loop() {
				got, d := consumeFor(b, ts.addr, "slowc", 3*time.Second)
				b.ReportMetric(ts.s.quotas.Rate(quota.Fetch, "ANONYMOUS", "slowc")/q, "broker/quota")
				b.ReportMetric(float64(got)/d.Seconds()/q, "received/quota")
			}
		})
	}
}

// consumeFor consumes topic p from the start as client id for d and
// returns the record bytes received and the time taken.
func consumeFor(b *testing.B, addr, id string, d time.Duration) (int64, time.Duration) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(id), kgo.ConsumeTopics("p"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<10), kgo.FetchMaxPartitionBytes(64<<10))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var got int64
	start := time.Now()
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got += int64(len(r.Value)) })
	}
	return got, time.Since(start)
}

func benchSetQuota(b *testing.B, ts *testServer, id, key string, v float64) {
	err := ts.s.quotas.Alter([]quota.Alteration{{Entity: quota.Entity{quota.ClientID: id}, Ops: []quota.Op{{Key: key, Value: v}}}}, false)
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkQuotaStep: what quotas add to one produce request on the
// reader (quotaBegin, quotaEnd) and the writer (quotaRespond), off, on
// for another client and measured; compare with BenchmarkQuotaProduce's
// whole path:
//
//	go test -run '^$' -bench BenchmarkQuotaStep -benchmem -count 5 ./internal/kafka
func BenchmarkQuotaStep(b *testing.B) {
	for _, mode := range []string{"off", "other-client", "measured"} {
		b.Run(mode, func(b *testing.B) {
			s, c := benchServer(b)
			switch mode {
			case "other-client":
				benchQuota(b, s, "someone-else")
			case "measured":
				benchQuota(b, s, "bench")
			}
			r := &request{c: c, key: produceKey, version: 9, clientID: "bench"}
			p := &pending{resp: kmsg.NewPtrProduceResponse()}
			b.ReportAllocs()
			for b.Loop() {
				qs := s.quotaBegin()
				s.quotaEnd(qs, r, p, 16<<10)
				c.quotaRespond(p)
			}
		})
	}
}

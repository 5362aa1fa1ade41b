package kafka

import (
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/quota"
)

// setQuota sets key=v on the client-id entity id.
func setQuota(t *testing.T, ts *testServer, id, key string, v float64) {
	t.Helper()
	err := ts.s.quotas.Alter([]quota.Alteration{{Entity: quota.Entity{quota.ClientID: id}, Ops: []quota.Op{{Key: key, Value: v}}}}, false)
	if err != nil {
		t.Fatal(err)
	}
}

func makeTopic(t testing.TB, ts *testServer, name string) {
	t.Helper()
	if _, err := newAdmin(t, ts.addr, "admin").CreateTopic(context.Background(), 1, 1, nil, name); err != nil {
		t.Fatal(err)
	}
}

// TestQuotaThrottleMutes: a produce over the client's byte rate is
// answered at once with throttle_time_ms (the time for its rate to come
// back to the quota), and the connection is muted for that long: the
// next request's answer comes no earlier (KIP-219).
func TestQuotaThrottleMutes(t *testing.T) {
	ts := startServer(t, nil)
	makeTopic(t, ts, "q")
	const rate = 200_000
	setQuota(t, ts, "test", quota.ProducerByteRate, rate) // the raw client's id
	c := ts.dial(t)
	t0 := time.Now()
	resp := c.roundTrip(produceReq(7, "q", 0, makeBatch(10, 10_000, time.Now().UnixMilli()))).(*kmsg.ProduceResponse)
	if ec := resp.Topics[0].Partitions[0].ErrorCode; ec != 0 {
		t.Fatalf("produce error %d", ec)
	}
	// About 100 kB at 200 kB/s from a standing start: half a second.
	if resp.ThrottleMillis < 450 || resp.ThrottleMillis > 600 {
		t.Fatalf("throttle_time_ms %d, want about 500", resp.ThrottleMillis)
	}
	c.roundTrip(kmsg.NewPtrApiVersionsRequest())
	if el := time.Since(t0); el < time.Duration(resp.ThrottleMillis-1)*time.Millisecond {
		t.Fatalf("the next request was answered after %v, within the %d ms mute", el, resp.ThrottleMillis)
	}
}

// throttles counts the throttles a kgo client is told of.
type throttles struct{ n atomic.Int32 }

func (h *throttles) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	if d > 0 {
		h.n.Add(1)
	}
}

// TestQuotaProduceRate: a franz-go producer with a 1 MiB/s quota on its
// client id, producing as fast as it can for about 3 s, is measured by
// the broker within ±20% of the quota and is told of throttles; another
// client id producing alongside without a quota is never throttled.
func TestQuotaProduceRate(t *testing.T) {
	ts := startServer(t, nil)
	makeTopic(t, ts, "p")
	const q = 1 << 20
	setQuota(t, ts, "slow", quota.ProducerByteRate, q)
	slowHook, freeHook := &throttles{}, &throttles{}
	var wg sync.WaitGroup
	var slowBytes int64
	var slowTime time.Duration
	wg.Add(2)
	go func() {
		defer wg.Done()
		slowBytes, slowTime = produceFor(t, ts.addr, "slow", slowHook, 3*time.Second, 1<<62)
	}()
	var freeRate float64
	go func() {
		defer wg.Done()
		n, d := produceFor(t, ts.addr, "free", freeHook, 3*time.Second, 6<<20)
		freeRate = float64(n) / d.Seconds()
	}()
	wg.Wait()
	measured := ts.s.quotas.Rate(quota.Produce, "ANONYMOUS", "slow")
	t.Logf("quota %d B/s: broker measured %.0f B/s (%.2f), client acked %.0f B/s; unquoted client %.0f B/s",
		q, measured, measured/q, float64(slowBytes)/slowTime.Seconds(), freeRate)
	if measured > 1.2*q {
		t.Errorf("broker-measured rate %.0f B/s, above the quota %d by more than 20%%", measured, q)
	}
	// The floor holds only on a machine that can produce faster than the
	// quota, which the unquoted client alongside shows.
	if freeRate > 1.5*q && measured < 0.8*q {
		t.Errorf("broker-measured rate %.0f B/s, below the quota %d by more than 20%% (the unquoted client made %.0f B/s)", measured, q, freeRate)
	}
	if got := float64(slowBytes) / slowTime.Seconds(); got > 1.2*q {
		t.Errorf("the throttled producer got %.0f B/s acked, above the quota's ceiling", got)
	}
	if slowHook.n.Load() == 0 {
		t.Error("the throttled producer was never told of a throttle")
	}
	if n := freeHook.n.Load(); n != 0 {
		t.Errorf("the producer without a quota was throttled %d times", n)
	}
	if ts.s.quotas.Rate(quota.Produce, "ANONYMOUS", "free") != 0 {
		t.Error("a sensor measured the client without a quota")
	}
}

// produceFor produces 10 kB records as client id for d (or until max
// bytes are acked) and returns the bytes acked and the time taken.
func produceFor(t testing.TB, addr, id string, h kgo.Hook, d time.Duration, max int64) (int64, time.Duration) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(id), kgo.WithHooks(h), kgo.DefaultProduceTopic("p"),
		kgo.ProducerBatchMaxBytes(64<<10), kgo.MaxBufferedRecords(64), kgo.ProducerLinger(0))
	if err != nil {
		t.Error(err)
		return 0, 0
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var acked atomic.Int64
	start := time.Now()
	for ctx.Err() == nil && acked.Load() < max {
		val := make([]byte, 10_000)
		rand.Read(val) // incompressible: the broker counts wire bytes
		cl.Produce(ctx, &kgo.Record{Value: val}, func(r *kgo.Record, err error) {
			if err == nil {
				acked.Add(int64(len(r.Value)))
			}
		})
	}
	cl.Flush(context.Background())
	return acked.Load(), time.Since(start)
}

// TestQuotaFetchRate: a franz-go consumer with a 512 KiB/s consumer
// quota, consuming a backlog for about 3 s, is measured by the broker
// within ±20% of the quota, is told of throttles, and receives no more
// than the quota allows.
func TestQuotaFetchRate(t *testing.T) {
	ts := startServer(t, nil)
	makeTopic(t, ts, "p")
	produceFor(t, ts.addr, "loader", &throttles{}, 20*time.Second, 3<<20)
	const q = 512 << 10
	setQuota(t, ts, "slowc", quota.ConsumerByteRate, q)
	h := &throttles{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(ts.addr), kgo.ClientID("slowc"), kgo.WithHooks(h),
		kgo.ConsumeTopics("p"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(64<<10), kgo.FetchMaxPartitionBytes(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var got int64
	start := time.Now()
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got += int64(len(r.Value)) })
	}
	el := time.Since(start)
	measured := ts.s.quotas.Rate(quota.Fetch, "ANONYMOUS", "slowc")
	t.Logf("quota %d B/s: broker measured %.0f B/s (%.2f), client got %.0f B/s", q, measured, measured/q, float64(got)/el.Seconds())
	if measured < 0.8*q || measured > 1.2*q {
		t.Errorf("broker-measured fetch rate %.0f B/s, want within 20%% of %d", measured, q)
	}
	if r := float64(got) / el.Seconds(); r > 1.2*q {
		t.Errorf("the consumer got %.0f B/s, above the quota's ceiling", r)
	}
	if h.n.Load() == 0 {
		t.Error("the consumer was never told of a throttle")
	}
}

// TestQuotaAcksZeroCounts: a produce with acks=0 gets no answer but is
// counted, and mutes the connection like any other.
func TestQuotaAcksZeroCounts(t *testing.T) {
	ts := startServer(t, nil)
	makeTopic(t, ts, "q")
	setQuota(t, ts, "test", quota.ProducerByteRate, 200_000)
	c := ts.dial(t)
	req := produceReq(7, "q", 0, makeBatch(10, 10_000, time.Now().UnixMilli()))
	req.Acks = 0
	t0 := time.Now()
	c.send(req)
	c.roundTrip(kmsg.NewPtrApiVersionsRequest())
	// About 100 kB at 200 kB/s: muted for about half a second.
	if el := time.Since(t0); el < 400*time.Millisecond {
		t.Fatalf("answered after %v: the acks=0 produce did not mute the connection", el)
	}
	if r := ts.s.quotas.Rate(quota.Produce, "ANONYMOUS", "test"); r == 0 {
		t.Fatal("the acks=0 produce was not measured")
	}
}

// TestQuotaRequestPercentage: a client over its request_percentage
// (handler time) gets throttle_time_ms on an API other than produce and
// fetch.
func TestQuotaRequestPercentage(t *testing.T) {
	ts := startServer(t, nil)
	setQuota(t, ts, "test", quota.RequestPercentage, 0.0001) // 1 µs of handler time a second
	c := ts.dial(t)
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(9)
	resp := c.roundTrip(req).(*kmsg.MetadataResponse)
	if resp.ThrottleMillis <= 0 {
		t.Fatalf("metadata over the request quota: throttle_time_ms %d", resp.ThrottleMillis)
	}
	if ts.s.quotas.Rate(quota.Request, "ANONYMOUS", "test") <= 0 {
		t.Fatal("handler time not measured")
	}
}

// TestQuotaConnectionRate: with connection_creation_rate 4 on 127.0.0.1,
// four connections within a second are served at once and a fifth waits
// a quarter second before its first request is read (KIP-612).
func TestQuotaConnectionRate(t *testing.T) {
	ts := startServer(t, nil)
	err := ts.s.quotas.Alter([]quota.Alteration{{Entity: quota.Entity{quota.IP: "127.0.0.1"},
		Ops: []quota.Op{{Key: quota.ConnectionCreationRate, Value: 4}}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var cs []*client
	for range 5 {
		cs = append(cs, ts.dial(t))
	}
	cs[4].roundTrip(kmsg.NewPtrApiVersionsRequest())
	if el := time.Since(t0); el < 240*time.Millisecond {
		t.Fatalf("the fifth connection within a second was served after %v, want a 250ms wait", el)
	}
	if r := ts.s.quotas.RecordConnection("127.0.0.2", time.Now()); r != 0 {
		t.Fatal("another ip was throttled")
	}
}

package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// PayloadSize is the size of every record value.
const PayloadSize = 1024

// Config sizes a run.
type Config struct {
	Peers        []string      // peer names (see Peers); empty: all
	Records      int           // per produce workload
	ProduceCap   time.Duration // a produce workload stops sending after this
	RTTSamples   int           // one-in-flight round trips
	RTTCap       time.Duration
	Rates        []int         // offered rates of the end-to-end workload, records/s
	RateDuration time.Duration // how long each offered rate is held
	DiskProbe    time.Duration // fdatasync bandwidth probe length
	TempDir      string        // parent of every data dir; "" is os.TempDir()
}

// QuickConfig is the development mode: under 2 minutes for every peer.
func QuickConfig() Config {
	return Config{Records: 100_000, ProduceCap: 5 * time.Second, RTTSamples: 2000, RTTCap: time.Second,
		Rates: []int{10_000, 50_000, 100_000}, RateDuration: time.Second, DiskProbe: time.Second}
}

// FullConfig is the run whose report is committed.
func FullConfig() Config {
	return Config{Records: 1_000_000, ProduceCap: 30 * time.Second, RTTSamples: 20_000, RTTCap: 10 * time.Second,
		Rates: []int{10_000, 50_000, 100_000}, RateDuration: 5 * time.Second, DiskProbe: 3 * time.Second}
}

// Latency holds percentiles in microseconds.
type Latency struct {
	N              int64
	P50, P99, P999 float64
	Max            float64
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 120_000_000, 3) } // 1 µs .. 120 s

func latencyOf(h *hdrhistogram.Histogram) Latency {
	return Latency{N: h.TotalCount(), P50: float64(h.ValueAtQuantile(50)), P99: float64(h.ValueAtQuantile(99)),
		P999: float64(h.ValueAtQuantile(99.9)), Max: float64(h.Max())}
}

// Throughput is one produce or consume measurement.
type Throughput struct {
	Records int
	Elapsed time.Duration
	Errors  int
	Capped  bool // stopped at Config.ProduceCap before Records
}

// PerSec is records per second.
func (t Throughput) PerSec() float64 {
	if t.Elapsed <= 0 {
		return 0
	}
	return float64(t.Records) / t.Elapsed.Seconds()
}

// MBps is payload megabytes (10^6) per second.
func (t Throughput) MBps() float64 { return t.PerSec() * PayloadSize / 1e6 }

// E2E is the end-to-end latency at one offered rate.
type E2E struct {
	Offered  int
	Achieved float64 // records/s actually sent in the window
	Received int
	Sent     int
	Lat      Latency
}

func payload() []byte {
	b := make([]byte, PayloadSize)
	_, _ = rand.Read(b) // incompressible
	return b
}

// Produce sends n records of 1 KiB split over producers and returns when all
// are acknowledged, or stops sending at limit.
func Produce(ctx context.Context, c Client, topic string, n, producers int, limit time.Duration) (Throughput, error) {
	if err := c.Setup(ctx, topic); err != nil {
		return Throughput{}, fmt.Errorf("setup %s: %w", topic, err)
	}
	ps := make([]Producer, producers)
	for i := range ps {
		p, err := c.NewProducer(ctx, topic)
		if err != nil {
			return Throughput{}, err
		}
		defer p.Close()
		ps[i] = p
	}
	v := payload()
	var acked, failed atomic.Int64
	var capped atomic.Bool
	done := func(err error) {
		if err != nil {
			failed.Add(1)
		} else {
			acked.Add(1)
		}
	}
	start := time.Now()
	deadline := start.Add(limit)
	var wg sync.WaitGroup
	for i, p := range ps {
		share := n / producers
		if i == 0 {
			share += n % producers
		}
		wg.Go(func() {
			for j := range share {
				if j%256 == 0 && time.Now().After(deadline) {
					capped.Store(true)
					break
				}
				p.Send(ctx, v, done)
			}
			_ = p.Flush(ctx)
		})
	}
	wg.Wait()
	t := Throughput{Records: int(acked.Load()), Elapsed: time.Since(start), Errors: int(failed.Load()), Capped: capped.Load()}
	if t.Errors > 0 && t.Records == 0 {
		return t, fmt.Errorf("every record failed")
	}
	return t, nil
}

// ConsumeBacklog reads n records of topic from its start.
func ConsumeBacklog(ctx context.Context, c Client, topic string, n int) (Throughput, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	got := 0
	start := time.Now()
	err := c.Consume(ctx, topic, n, func([]byte) { got++ })
	return Throughput{Records: got, Elapsed: time.Since(start)}, err
}

// RoundTrip sends one record at a time and waits for its acknowledgement.
func RoundTrip(ctx context.Context, c Client, topic string, samples int, limit time.Duration) (Latency, error) {
	if err := c.Setup(ctx, topic); err != nil {
		return Latency{}, err
	}
	p, err := c.NewProducer(ctx, topic)
	if err != nil {
		return Latency{}, err
	}
	defer p.Close()
	v := payload()
	h := newHist()
	ack := make(chan error, 1)
	deadline := time.Now().Add(limit)
	for i := 0; i < samples+50 && time.Now().Before(deadline); i++ {
		t := time.Now()
		p.Send(ctx, v, func(err error) { ack <- err })
		_ = p.Flush(ctx) // send now: a linger only adds latency with one record in flight
		if err := <-ack; err != nil {
			return Latency{}, err
		}
		if i >= 50 { // warm-up: connections, metadata, first segment
			_ = h.RecordValue(time.Since(t).Microseconds())
		}
	}
	return latencyOf(h), nil
}

// EndToEnd offers rate records/s for dur, open loop, and measures each
// record from its intended send time to its arrival at a consumer, so that
// a stalled producer does not hide the stall (coordinated omission).
func EndToEnd(ctx context.Context, c Client, topic string, rate int, dur time.Duration) (E2E, error) {
	res := E2E{Offered: rate}
	if err := c.Setup(ctx, topic); err != nil {
		return res, err
	}
	p, err := c.NewProducer(ctx, topic)
	if err != nil {
		return res, err
	}
	defer p.Close()
	total := int(float64(rate) * dur.Seconds())
	h := newHist()
	base := time.Now()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var received atomic.Int64
	consumed := make(chan error, 1)
	go func() {
		consumed <- c.Consume(cctx, topic, total, func(v []byte) {
			intended := time.Duration(binary.LittleEndian.Uint64(v))
			_ = h.RecordValue((time.Since(base) - intended).Microseconds())
			received.Add(1)
		})
	}()
	time.Sleep(300 * time.Millisecond) // let the consumer attach
	start := time.Since(base)
	interval := time.Second / time.Duration(rate)
	tmpl := payload()
	sent := 0
	for i := range total {
		intended := start + time.Duration(i)*interval
		now := time.Since(base)
		if intended-now > time.Millisecond {
			time.Sleep(intended - now)
		}
		if now > start+dur+dur/2 {
			break // hopelessly behind; the rest is reported as not sent
		}
		v := make([]byte, PayloadSize)
		copy(v, tmpl)
		binary.LittleEndian.PutUint64(v, uint64(intended))
		p.Send(ctx, v, func(error) {})
		sent++
	}
	elapsed := time.Since(base) - start
	_ = p.Flush(ctx)
	// Records never sent waited at least until now: count them, or a peer
	// that falls behind would look faster than one that keeps up.
	unsent := make([]int64, 0, total-sent)
	for i := sent; i < total; i++ {
		unsent = append(unsent, (time.Since(base) - (start + time.Duration(i)*interval)).Microseconds())
	}
	res.Sent = sent
	res.Achieved = float64(sent) / elapsed.Seconds()
	wait := time.NewTimer(10 * time.Second)
	defer wait.Stop()
	var cerr error
	cdone := false
	for !cdone && received.Load() < int64(sent) && cctx.Err() == nil {
		select {
		case <-wait.C:
			cancel()
		case cerr = <-consumed:
			cdone = true
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if !cdone {
		cerr = <-consumed
	}
	if received.Load() < int64(sent) {
		err = fmt.Errorf("consumer stopped after %d of %d: %w", received.Load(), sent, cerr)
	}
	res.Received = int(received.Load())
	for _, v := range unsent {
		_ = h.RecordValue(v)
	}
	res.Lat = latencyOf(h)
	return res, err
}

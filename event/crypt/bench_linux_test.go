//go:build linux

package crypt_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/event/crypt"
)

// BenchmarkCodecRatio alternates plain JSON and the encrypting codec (one
// key, DEK cached) in one loop, so that both see the same load on a
// shared machine, and reports each one's encode+decode time and their
// ratio: by the wall clock (crypt/json) and by this thread's CPU time
// (crypt/json-cpu), which leaves out the time the thread waited for a
// core (but also the garbage collector's work on other threads).
func BenchmarkCodecRatio(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	kr, _ := newKeyring(b)
	c := newCodec(b, kr, crypt.Config{})
	o := newBenchOrder()
	e := event.New("/shop", "order.placed", nil)
	ctx := context.Background()
	roundTrip := func(c event.Codec) (wall, cpu time.Duration) {
		w0, c0 := time.Now(), threadCPU(b)
		enc, err := event.EncodeEvent(ctx, c, "orders", e, o)
		if err != nil {
			b.Fatal(err)
		}
		var got benchOrder
		if err := c.Decode(ctx, enc, &got); err != nil {
			b.Fatal(err)
		}
		return time.Since(w0), threadCPU(b) - c0
	}
	roundTrip(c)
	var plain, sealed, plainCPU, sealedCPU time.Duration
	for b.Loop() {
		w, c1 := roundTrip(event.JSON)
		plain, plainCPU = plain+w, plainCPU+c1
		w, c1 = roundTrip(c)
		sealed, sealedCPU = sealed+w, sealedCPU+c1
	}
	n := float64(b.N)
	b.ReportMetric(float64(plain.Nanoseconds())/n, "json-ns/op")
	b.ReportMetric(float64(sealed.Nanoseconds())/n, "crypt-ns/op")
	b.ReportMetric(float64(sealed)/float64(plain), "crypt/json")
	b.ReportMetric(float64(sealedCPU)/float64(plainCPU), "crypt/json-cpu")
}

func threadCPU(b *testing.B) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// BenchmarkSecureThroughput produces and consumes 1 KiB records with
// franz-go over PLAINTEXT (the baseline) and over SASL_SSL with
// SCRAM-SHA-512, in the same run against the same broker (durability
// none, so that the transport and not fsync is measured). The goal is
// SASL_SSL at 70% or more of PLAINTEXT; compare the MB/s of each pair:
//
//	make bench-security   # five interleaved runs of 300,000 records each
//
// On a shared machine the runs vary by 2x; compare medians.
func BenchmarkSecureThroughput(b *testing.B) {
	s := startSecure(b, nil)
	value := make([]byte, 1024)
	for _, op := range []string{"produce", "consume"} {
		for _, listener := range []string{"PLAINTEXT", "SASL_SSL"} {
			b.Run(op+"/"+listener, func(b *testing.B) {
				var opts []kgo.Opt
				if listener == "SASL_SSL" {
					opts = []kgo.Opt{kgo.DialTLSConfig(s.tlsConfig(b, false)), kgo.SASL(scram.Auth{User: "admin", Pass: "admin-pw"}.AsSha512Mechanism())}
				}
				topic := fmt.Sprintf("bench-%s-%s-%d", op, listener, b.N)
				b.SetBytes(int64(len(value)))
				b.ReportAllocs()
				if op == "produce" {
					benchProduce(b, s.addr(listener), topic, value, b.N, opts)
					return
				}
				b.StopTimer()
				benchProduce(b, s.addr("PLAINTEXT"), topic, value, b.N, nil)
				b.StartTimer()
				benchConsume(b, s.addr(listener), topic, b.N, opts)
			})
		}
	}
}

func benchClient(b *testing.B, addr string, opts []kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(0))...)
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

func benchProduce(b *testing.B, addr, topic string, value []byte, n int, opts []kgo.Opt) {
	cl := benchClient(b, addr, append(opts, kgo.DefaultProduceTopic(topic)))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	errs := make(chan error, 1)
	for range n {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

func benchConsume(b *testing.B, addr, topic string, n int, opts []kgo.Opt) {
	cl := benchClient(b, addr, append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			b.Fatal(err)
		}
		got += fs.NumRecords()
	}
}

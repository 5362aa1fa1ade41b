package txn_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkTxnProduce compares transactional produce (one transaction per
// 1000 records of 1 KiB) with plain idempotent produce, interleaved in
// the same run against one broker (durability always), with franz-go.
// One iteration is 1000 records of each; the metrics are records/s of
// each and their ratio (goal: txn >= 0.7 of idempotent).
//
//	go test -run '^$' -bench TxnProduce -benchtime 30x ./internal/txn
func BenchmarkTxnProduce(b *testing.B) {
	br := newBroker(b)
	createTopic(b, br, "bench-idem", 3)
	createTopic(b, br, "bench-txn", 3)
	ctx := context.Background()
	idem := newClient(b, br, kgo.DefaultProduceTopic("bench-idem"))
	txn := newClient(b, br, kgo.DefaultProduceTopic("bench-txn"), kgo.TransactionalID("bench"))
	val := make([]byte, 1024)
	const perTxn = 1000
	produce := func(cl *kgo.Client) {
		for range perTxn {
			cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Error(err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	// Warm up both paths (connections, producer ids, partition state).
	produce(idem)
	if err := txn.BeginTransaction(); err != nil {
		b.Fatal(err)
	}
	produce(txn)
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(2 * perTxn * int64(len(val)))
	b.ReportAllocs()
	var tIdem, tTxn time.Duration
	for b.Loop() {
		start := time.Now()
		produce(idem)
		tIdem += time.Since(start)

		start = time.Now()
		if err := txn.BeginTransaction(); err != nil {
			b.Fatal(err)
		}
		produce(txn)
		if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
			b.Fatal(err)
		}
		tTxn += time.Since(start)
	}
	recs := float64(b.N * perTxn)
	b.ReportMetric(recs/tIdem.Seconds(), "idem-rec/s")
	b.ReportMetric(recs/tTxn.Seconds(), "txn-rec/s")
	b.ReportMetric(tIdem.Seconds()/tTxn.Seconds(), "txn/idem")
}

// BenchmarkTxnSmall measures the coordinator's share: transactions of one
// record each (AddPartitions, Produce, EndTxn, and the next
// transaction's wait for the markers' fsyncs), against the same record
// produced idempotently, interleaved in the same run.
//
//	go test -run '^$' -bench TxnSmall -benchtime 200x ./internal/txn
func BenchmarkTxnSmall(b *testing.B) {
	br := newBroker(b)
	createTopic(b, br, "small-idem", 1)
	createTopic(b, br, "small-txn", 1)
	ctx := context.Background()
	idem := newClient(b, br, kgo.DefaultProduceTopic("small-idem"))
	txn := newClient(b, br, kgo.DefaultProduceTopic("small-txn"), kgo.TransactionalID("small"))
	one := func(cl *kgo.Client) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	oneTxn := func() {
		if err := txn.BeginTransaction(); err != nil {
			b.Fatal(err)
		}
		one(txn)
		if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
			b.Fatal(err)
		}
	}
	one(idem)
	oneTxn()
	b.ReportAllocs()
	var tIdem, tTxn time.Duration
	for b.Loop() {
		start := time.Now()
		one(idem)
		tIdem += time.Since(start)
		start = time.Now()
		oneTxn()
		tTxn += time.Since(start)
	}
	b.ReportMetric(float64(tIdem.Microseconds())/float64(b.N), "idem-us/op")
	b.ReportMetric(float64(tTxn.Microseconds())/float64(b.N), "txn-us/op")
	b.ReportMetric(tTxn.Seconds()/tIdem.Seconds(), "txn/idem")
}

package saga_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/event"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/saga"
)

// threeStep is a saga of three commands.
func threeStep() saga.Definition {
	return saga.Definition{Name: "three", Steps: []saga.Step{
		{Name: "reserve", Action: cmd("inv", "reserve"), Compensation: cmd("inv", "release")},
		{Name: "charge", Action: cmd("pay", "charge"), Compensation: cmd("pay", "refund")},
		{Name: "ship", Action: cmd("ship", "ship")},
	}}
}

// BenchmarkSaga compares, on each database, completed 3-step sagas (a
// start and three replies: four transactions, each storing the instance,
// its history and the next command in the outbox) with the baseline of
// the outbox's raw write rate (one event per transaction), in the same
// run. Replies are applied directly (HandleReply), so the broker is not
// measured.
//
//	go test ./saga -run '^$' -bench BenchmarkSaga -benchtime 3s
func BenchmarkSaga(b *testing.B) {
	for _, mk := range backends() {
		be := mk(b)
		b.Run(be.name+"/outbox-write", func(b *testing.B) { benchOutbox(b, be) })
		b.Run(be.name+"/saga-3-step", func(b *testing.B) { benchSagas(b, be) })
		b.Run(be.name+"/paired", func(b *testing.B) { benchPaired(b, be) })
	}
}

// benchPaired alternates one raw outbox write and one 3-step saga, so
// that both see the same load on a shared machine, and reports the
// ratio of their rates (sagas/s over writes/s).
func benchPaired(b *testing.B, be backend) {
	ctx := context.Background()
	db, st := be.open(b)
	r := newRunner(b, st, threeStep())
	run := event.NewID()[24:]
	b.ReportAllocs()
	var inOutbox, inSagas time.Duration
	for i := range b.N {
		start := time.Now()
		e := event.New("/bench", "reserve", []byte(`{"id":"x"}`))
		e.Key = fmt.Sprint("k-", i)
		if err := writeOne(ctx, db, be.ob, e); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		runSaga(b, r, fmt.Sprintf("p-%s-%d", run, i), i)
		inOutbox, inSagas = inOutbox+mid.Sub(start), inSagas+time.Since(mid)
	}
	b.ReportMetric(float64(b.N)/inOutbox.Seconds(), "writes/s")
	b.ReportMetric(float64(b.N)/inSagas.Seconds(), "sagas/s")
	b.ReportMetric(inOutbox.Seconds()/inSagas.Seconds(), "ratio")
}

// runSaga starts 3-step saga id and applies its three success replies.
func runSaga(b *testing.B, r *saga.Runner, id string, i int) {
	ctx := context.Background()
	if _, err := r.Start(ctx, "three", id, map[string]int{"n": i}); err != nil {
		b.Fatal(err)
	}
	for step, typ := range []string{"reserve.ok", "charge.ok", "ship.ok"} {
		m := outbox.Message{ID: fmt.Sprintf("%s/%d/do/1", id, step), Key: id}
		if err := r.HandleReply(ctx, replyTo(m, typ)); err != nil {
			b.Fatal(err)
		}
	}
}

func benchOutbox(b *testing.B, be backend) {
	ctx := context.Background()
	db, _ := be.open(b)
	b.ReportAllocs()
	start := time.Now()
	for i := range b.N {
		e := event.New("/bench", "reserve", []byte(`{"id":"x"}`))
		e.Key = fmt.Sprint("k-", i)
		if err := writeOne(ctx, db, be.ob, e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
}

func writeOne(ctx context.Context, db *sql.DB, ob outbox.Store, e event.Event) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := outbox.Write(ctx, tx, ob, "inv", e); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

func benchSagas(b *testing.B, be backend) {
	ctx := context.Background()
	_, st := be.open(b)
	r := newRunner(b, st, threeStep())
	run := event.NewID()[24:]
	b.ReportAllocs()
	start := time.Now()
	for i := range b.N {
		runSaga(b, r, fmt.Sprintf("b-%s-%d", run, i), i)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sagas/s")
	b.StopTimer()
	if in, err := st.Get(ctx, fmt.Sprintf("b-%s-%d", run, b.N-1)); err != nil || in.Status != saga.Done {
		b.Fatalf("last saga %+v %v", in, err)
	}
}

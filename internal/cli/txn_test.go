package cli

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConsumeEndsAtCommitMarker: a partition whose last offset is a
// transaction marker (no record to print) still counts as read to its
// end, so consume without --follow stops.
func TestConsumeEndsAtCommitMarker(t *testing.T) {
	addr := newHerald(t)
	ok(t, addr, "", "topic", "create", "tx", "-p", "1")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("cli-test"), kgo.DefaultProduceTopic("tx"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("a"), kgo.StringRecord("b")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if got := ok(t, addr, "", "consume", "tx").out; got != "a\nb\n" {
		t.Fatalf("consume: %q", got)
	}
	if got := ok(t, addr, "", "consume", "tx", "--group", "g").out; got != "a\nb\n" {
		t.Fatalf("consume --group: %q", got)
	}
}

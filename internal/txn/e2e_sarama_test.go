package txn_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/heraldhq/herald/heraldtest"
)

func saramaTxnProducer(t *testing.T, b *heraldtest.Broker, id string) sarama.SyncProducer {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Transaction.ID = id
	cfg.Producer.Retry.Max = 10
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func saramaTxn(t *testing.T, p sarama.SyncProducer, topic, tag string, n int, commit bool) error {
	t.Helper()
	if err := p.BeginTxn(); err != nil {
		return err
	}
	for i := range n {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("%s-%d", tag, i))}); err != nil {
			return err
		}
	}
	if commit {
		return p.CommitTxn()
	}
	return p.AbortTxn()
}

// saramaRead consumes partition 0 of topic from the start with sarama
// until idle, at the isolation level.
func saramaRead(t *testing.T, b *heraldtest.Broker, topic string, iso sarama.IsolationLevel) map[string]int {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Consumer.IsolationLevel = iso
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	c, err := sarama.NewConsumer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got := map[string]int{}
	for {
		select {
		case m := <-pc.Messages():
			got[string(m.Value)]++
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-time.After(time.Second):
			return got
		}
	}
}

// TestSarama: sarama's transactional producer commits and aborts;
// read_committed sarama consumers never see aborted records,
// read_uncommitted ones do; a second producer fences the first.
func TestSarama(t *testing.T) {
	b := newBroker(t)
	createTopic(t, b, "sar", 1)
	p := saramaTxnProducer(t, b, "s1")
	defer p.Close()
	for i, commit := range []bool{true, false, true, false} {
		if err := saramaTxn(t, p, "sar", fmt.Sprintf("t%d", i), 5, commit); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	committed := saramaRead(t, b, "sar", sarama.ReadCommitted)
	all := saramaRead(t, b, "sar", sarama.ReadUncommitted)
	if len(committed) != 10 || len(all) != 20 || committed["t1-0"] != 0 || all["t1-0"] != 1 {
		t.Fatalf("read_committed %d records, read_uncommitted %d (want 10, 20): %v", len(committed), len(all), committed)
	}

	// Fencing: a new producer with the same id.
	if err := p.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "sar", Value: sarama.StringEncoder("zombie")}); err != nil {
		t.Fatal(err)
	}
	p2 := saramaTxnProducer(t, b, "s1")
	defer p2.Close()
	if err := saramaTxn(t, p2, "sar", "new", 2, true); err != nil {
		t.Fatal(err)
	}
	err := p.CommitTxn()
	if !errors.Is(err, sarama.ErrProducerFenced) && !errors.Is(err, sarama.ErrInvalidProducerEpoch) {
		t.Fatalf("fenced producer's commit: %v, want ProducerFenced", err)
	}
	t.Logf("fenced sarama producer: %v (status %v)", err, p.TxnStatus())
	if p.TxnStatus()&sarama.ProducerTxnFlagFatalError == 0 {
		t.Fatalf("fenced producer's state %v is not fatal", p.TxnStatus())
	}
	if got := saramaRead(t, b, "sar", sarama.ReadCommitted); got["zombie"] != 0 || got["new-1"] != 1 {
		t.Fatalf("read_committed after fencing: %v", got)
	}
}

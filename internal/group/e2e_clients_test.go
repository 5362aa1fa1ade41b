package group_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// crashDialer lets a test kill every connection of a client and refuse
// new ones: the client vanishes without leaving its group.
type crashDialer struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (d *crashDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return nil, errors.New("crashed")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *crashDialer) crash() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = true
	for _, c := range d.conns {
		c.Close()
	}
}

// crashableFranz is a franz-go member whose crash cuts its connections
// first, so its Close cannot leave or commit.
type crashableFranz struct {
	*franzMember
	d *crashDialer
}

func (m crashableFranz) close(crash bool) {
	if crash {
		m.d.crash()
		m.cancel()
		go m.cl.Close() // its LeaveGroup cannot reach the broker
		return
	}
	m.franzMember.close(false)
}

func crashableFranzFactory(opts ...kgo.Opt) func(t *testing.T, addr, group, topic string, l *ledger) member {
	return func(t *testing.T, addr, group, topic string, l *ledger) member {
		d := &crashDialer{}
		return crashableFranz{newFranzMember(t, addr, group, topic, l, append(opts, kgo.Dialer(d.dial))...), d}
	}
}

// ---- sarama ----

type saramaMember struct {
	cg     sarama.ConsumerGroup
	cancel context.CancelFunc
	done   chan struct{}
}

type saramaHandler struct{ l *ledger }

func (saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		h.l.add(string(msg.Value))
		s.MarkMessage(msg, "")
		s.Commit() // synchronous: a clean handover starts after it
	}
	return nil
}

func newSaramaMember(t *testing.T, addr, group, topic string, l *ledger, strategy sarama.BalanceStrategy) member {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_6_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 300 * time.Millisecond
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{strategy}
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &saramaMember{cg: cg, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, saramaHandler{l}); err != nil && ctx.Err() == nil {
				t.Logf("sarama consume: %v", err)
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	return m
}

func (m *saramaMember) close(bool) {
	m.cancel()
	<-m.done
	m.cg.Close()
}

// ---- kafka-go ----

type kafkaGoMember struct {
	r      *kafka.Reader
	cancel context.CancelFunc
	done   chan struct{}
}

func newKafkaGoMember(t *testing.T, addr, group, topic string, l *ledger) member {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{addr}, GroupID: group, Topic: topic,
		StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond,
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 300 * time.Millisecond,
		RebalanceTimeout: 10 * time.Second, JoinGroupBackoff: 100 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	m := &kafkaGoMember{r: r, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			msg, err := r.FetchMessage(ctx)
			if err != nil {
				return
			}
			l.add(string(msg.Value))
			if err := r.CommitMessages(ctx, msg); err != nil && ctx.Err() == nil {
				t.Logf("kafka-go commit: %v", err)
			}
		}
	}()
	return m
}

func (m *kafkaGoMember) close(bool) {
	m.cancel()
	<-m.done
	m.r.Close()
}

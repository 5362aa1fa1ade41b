package compat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func saramaClient() client {
	return client{
		name:       "sarama",
		caps:       caps{binary: true, nullKeys: true, nullValues: true, recordHeaders: true, timestamps: true},
		readsNulls: true,
		open: func(t testing.TB, tg target) session {
			s := &saramaSession{t: t, tg: tg, producers: make(map[codec]sarama.SyncProducer)}
			t.Cleanup(s.close)
			return s
		},
	}
}

type saramaSession struct {
	t         testing.TB
	tg        target
	producers map[codec]sarama.SyncProducer
}

func (s *saramaSession) close() {
	for _, p := range s.producers {
		_ = p.Close()
	}
}

// saramaConfig is sarama's default configuration (protocol version 2.8),
// with acks=all, manual partitioning, and retries that outlast a broker
// restart.
func saramaConfig(c codec) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "herald-compat"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = saramaCodec(c)
	cfg.Producer.Retry.Max = 20
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.MaxMessageBytes = 4 << 20 // the broker, not the client, judges size
	cfg.Metadata.Retry.Max = 20
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.MaxWaitTime = 250 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	return cfg
}

func saramaCodec(c codec) sarama.CompressionCodec {
	switch c {
	case codecGzip:
		return sarama.CompressionGZIP
	case codecSnappy:
		return sarama.CompressionSnappy
	case codecLz4:
		return sarama.CompressionLZ4
	case codecZstd:
		return sarama.CompressionZSTD
	default:
		return sarama.CompressionNone
	}
}

func (s *saramaSession) producer(c codec) (sarama.SyncProducer, error) {
	if p, ok := s.producers[c]; ok {
		return p, nil
	}
	p, err := sarama.NewSyncProducer(s.tg.seeds, saramaConfig(c))
	if err != nil {
		return nil, fmt.Errorf("sarama producer: %w", err)
	}
	s.producers[c] = p
	return p, nil
}

func (s *saramaSession) produce(ctx context.Context, topic string, c codec, recs []record) ([]int64, error) {
	p, err := s.producer(c)
	if err != nil {
		return nil, err
	}
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		msgs[i] = toSarama(topic, r)
	}
	// SendMessages takes no context; the session's Close unblocks it if
	// we give up.
	done := make(chan error, 1)
	go func() { done <- p.SendMessages(msgs) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("sarama SendMessages: %w", ctx.Err())
	}
	if err != nil {
		return nil, err
	}
	offsets := make([]int64, len(msgs))
	for i, m := range msgs {
		offsets[i] = m.Offset
	}
	return offsets, nil
}

func toSarama(topic string, r record) *sarama.ProducerMessage {
	m := &sarama.ProducerMessage{
		Topic:     topic,
		Partition: r.Partition,
		Timestamp: r.Timestamp,
	}
	// A nil Encoder is a null key or value; ByteEncoder([]byte{}) is empty.
	if r.Key != nil {
		m.Key = sarama.ByteEncoder(r.Key)
	}
	if r.Value != nil {
		m.Value = sarama.ByteEncoder(r.Value)
	}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
	}
	return m
}

func (s *saramaSession) consume(ctx context.Context, topic string, partition int32, offset int64, n int) ([]record, error) {
	consumer, err := sarama.NewConsumer(s.tg.seeds, saramaConfig(codecNone))
	if err != nil {
		return nil, fmt.Errorf("sarama consumer: %w", err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, partition, offset)
	if err != nil {
		return nil, fmt.Errorf("sarama consume %s/%d: %w", topic, partition, err)
	}
	defer pc.Close()
	var out []record
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, fromSarama(m))
		case err := <-pc.Errors():
			return out, err
		case <-ctx.Done():
			return out, fmt.Errorf("read %d of %d records: %w", len(out), n, ctx.Err())
		}
	}
	return out, nil
}

func fromSarama(m *sarama.ConsumerMessage) record {
	r := record{
		Key:       m.Key,
		Value:     m.Value,
		Timestamp: m.Timestamp,
		Partition: m.Partition,
		Offset:    m.Offset,
	}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, header{string(h.Key), h.Value})
	}
	return r
}

func (s *saramaSession) createTopic(_ context.Context, topic string, partitions int32) error {
	admin, err := sarama.NewClusterAdmin(s.tg.seeds, saramaConfig(codecNone))
	if err != nil {
		return fmt.Errorf("sarama admin: %w", err)
	}
	defer admin.Close()
	return admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
}

func (s *saramaSession) partitions(_ context.Context, topic string) ([]int32, error) {
	cl, err := sarama.NewClient(s.tg.seeds, saramaConfig(codecNone))
	if err != nil {
		return nil, fmt.Errorf("sarama client: %w", err)
	}
	defer cl.Close()
	if err := cl.RefreshMetadata(topic); err != nil {
		return nil, err
	}
	ps, err := cl.Partitions(topic)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if _, err := cl.Leader(topic, p); err != nil {
			return nil, fmt.Errorf("leader of %s/%d: %w", topic, p, err)
		}
	}
	return slices.Sorted(slices.Values(ps)), nil
}

func (s *saramaSession) errorCode(err error) int16 {
	var perrs sarama.ProducerErrors
	if errors.As(err, &perrs) && len(perrs) > 0 {
		err = perrs[0].Err
	}
	var ke sarama.KError
	if errors.As(err, &ke) {
		return int16(ke)
	}
	return -1
}

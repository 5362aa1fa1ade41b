package compat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

func kafkaGoClient() client {
	return client{
		name:       "kafka-go",
		caps:       caps{binary: true, nullKeys: true, nullValues: true, recordHeaders: true, timestamps: true},
		readsNulls: false,
		open: func(t testing.TB, tg target) session {
			s := &kafkaGoSession{
				t:       t,
				tg:      tg,
				writers: make(map[codec]*kafka.Writer),
				// Not kafka.DefaultTransport: it caches metadata per
				// address for the whole process, so a topic created
				// after an earlier test looked it up stays unknown.
				transport: &kafka.Transport{},
			}
			t.Cleanup(s.close)
			return s
		},
	}
}

type kafkaGoSession struct {
	t         testing.TB
	tg        target
	writers   map[codec]*kafka.Writer
	transport *kafka.Transport
}

func (s *kafkaGoSession) close() {
	for _, w := range s.writers {
		_ = w.Close()
	}
	s.transport.CloseIdleConnections()
}

func kafkaGoCodec(c codec) compress.Compression {
	switch c {
	case codecGzip:
		return kafka.Gzip
	case codecSnappy:
		return kafka.Snappy
	case codecLz4:
		return kafka.Lz4
	case codecZstd:
		return kafka.Zstd
	default:
		return 0
	}
}

// writer returns the session's Writer for c: synchronous, acks=all, and
// sending each record to the partition the test chose.
func (s *kafkaGoSession) writer(c codec) *kafka.Writer {
	if w, ok := s.writers[c]; ok {
		return w
	}
	w := &kafka.Writer{
		Addr:      kafka.TCP(s.tg.seeds...),
		Transport: s.transport,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int {
			return m.Partition
		}),
		RequiredAcks:    kafka.RequireAll,
		Compression:     kafkaGoCodec(c),
		BatchTimeout:    5 * time.Millisecond, // the default (1s) waits for full batches
		BatchBytes:      4 << 20,              // the broker, not the client, judges size
		MaxAttempts:     20,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: 500 * time.Millisecond,
	}
	s.writers[c] = w
	return w
}

func (s *kafkaGoSession) produce(ctx context.Context, topic string, c codec, recs []record) ([]int64, error) {
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{
			Topic:     topic,
			Partition: int(r.Partition), // read by our Balancer
			Key:       r.Key,
			Value:     r.Value,
			Time:      r.Timestamp,
		}
		for _, h := range r.Headers {
			msgs[i].Headers = append(msgs[i].Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
	}
	return nil, s.writer(c).WriteMessages(ctx, msgs...)
}

func (s *kafkaGoSession) consume(ctx context.Context, topic string, partition int32, offset int64, n int) ([]record, error) {
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   s.tg.seeds,
		Topic:     topic,
		Partition: int(partition),
		MinBytes:  1,
		MaxBytes:  10 << 20,
		MaxWait:   250 * time.Millisecond,
	})
	defer rd.Close()
	if err := rd.SetOffset(offset); err != nil {
		return nil, err
	}
	var out []record
	for len(out) < n {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			return out, fmt.Errorf("read %d of %d records: %w", len(out), n, err)
		}
		r := record{
			Key:       m.Key,
			Value:     m.Value,
			Timestamp: m.Time,
			Partition: int32(m.Partition),
			Offset:    m.Offset,
		}
		for _, h := range m.Headers {
			r.Headers = append(r.Headers, header{h.Key, h.Value})
		}
		out = append(out, r)
	}
	return out, nil
}

func (s *kafkaGoSession) createTopic(ctx context.Context, topic string, partitions int32) error {
	cl := &kafka.Client{Addr: kafka.TCP(s.tg.seeds...), Transport: s.transport}
	resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: int(partitions), ReplicationFactor: 1}},
	})
	if err != nil {
		return err
	}
	return resp.Errors[topic]
}

func (s *kafkaGoSession) partitions(ctx context.Context, topic string) ([]int32, error) {
	cl := &kafka.Client{Addr: kafka.TCP(s.tg.seeds...), Transport: s.transport}
	resp, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	for _, tm := range resp.Topics {
		if tm.Name != topic {
			continue
		}
		if tm.Error != nil {
			return nil, tm.Error
		}
		var ps []int32
		for _, p := range tm.Partitions {
			if p.Error != nil {
				return nil, fmt.Errorf("partition %d: %w", p.ID, p.Error)
			}
			ps = append(ps, int32(p.ID))
		}
		return slices.Sorted(slices.Values(ps)), nil
	}
	return nil, fmt.Errorf("topic %s not in metadata", topic)
}

func (s *kafkaGoSession) errorCode(err error) int16 {
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil {
				err = e
				break
			}
		}
	}
	var ke kafka.Error
	if errors.As(err, &ke) {
		return int16(ke)
	}
	return -1
}

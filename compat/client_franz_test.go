package compat

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func franzClient() client {
	return client{
		name:       "franz-go",
		caps:       caps{binary: true, nullKeys: true, nullValues: true, recordHeaders: true, timestamps: true},
		readsNulls: true,
		open: func(t testing.TB, tg target) session {
			return &franzSession{t: t, tg: tg, producers: make(map[codec]*kgo.Client)}
		},
	}
}

type franzSession struct {
	t         testing.TB
	tg        target
	producers map[codec]*kgo.Client
}

func franzCodec(c codec) kgo.CompressionCodec {
	switch c {
	case codecGzip:
		return kgo.GzipCompression()
	case codecSnappy:
		return kgo.SnappyCompression()
	case codecLz4:
		return kgo.Lz4Compression()
	case codecZstd:
		return kgo.ZstdCompression()
	default:
		return kgo.NoCompression()
	}
}

func (s *franzSession) producer(c codec) *kgo.Client {
	if cl, ok := s.producers[c]; ok {
		return cl
	}
	cl := newKgo(s.t, s.tg,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(franzCodec(c)),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(4<<20), // the broker, not the client, judges size
	)
	s.producers[c] = cl
	return cl
}

func (s *franzSession) produce(ctx context.Context, topic string, c codec, recs []record) ([]int64, error) {
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = toKgo(topic, r)
	}
	results := s.producer(c).ProduceSync(ctx, krs...)
	offsets := make([]int64, len(results))
	for i, res := range results {
		if res.Err != nil {
			return nil, fmt.Errorf("record %d: %w", i, res.Err)
		}
		offsets[i] = res.Record.Offset
	}
	return offsets, nil
}

func toKgo(topic string, r record) *kgo.Record {
	kr := &kgo.Record{
		Topic:     topic,
		Partition: r.Partition,
		Key:       r.Key,
		Value:     r.Value,
		Timestamp: r.Timestamp,
	}
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return kr
}

func fromKgo(kr *kgo.Record) record {
	r := record{
		Key:       kr.Key,
		Value:     kr.Value,
		Timestamp: kr.Timestamp,
		Partition: kr.Partition,
		Offset:    kr.Offset,
	}
	for _, h := range kr.Headers {
		r.Headers = append(r.Headers, header{h.Key, h.Value})
	}
	return r
}

func (s *franzSession) consume(ctx context.Context, topic string, partition int32, offset int64, n int) ([]record, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(s.tg.seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
			topic: {partition: kgo.NewOffset().At(offset)},
		}),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return pollN(ctx, cl, n)
}

// pollN polls cl until it has n records, an error, or ctx ends.
func pollN(ctx context.Context, cl *kgo.Client, n int) ([]record, error) {
	var out []record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("read %d of %d records: %w", len(out), n, err)
		}
		var errs []error
		fs.EachError(func(topic string, p int32, err error) {
			errs = append(errs, fmt.Errorf("fetch %s/%d: %w", topic, p, err))
		})
		if len(errs) > 0 {
			return out, errors.Join(errs...)
		}
		fs.EachRecord(func(kr *kgo.Record) { out = append(out, fromKgo(kr)) })
	}
	return out[:n], nil // records past n are the caller's to check
}

func (s *franzSession) createTopic(ctx context.Context, topic string, partitions int32) error {
	resp, err := kadm.NewClient(s.producer(codecNone)).CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil {
		return err
	}
	return resp.Err
}

func (s *franzSession) partitions(ctx context.Context, topic string) ([]int32, error) {
	tds, err := kadm.NewClient(s.producer(codecNone)).ListTopics(ctx, topic)
	if err != nil {
		return nil, err
	}
	td, ok := tds[topic]
	if !ok {
		return nil, fmt.Errorf("topic %s not in metadata", topic)
	}
	if td.Err != nil {
		return nil, td.Err
	}
	return td.Partitions.Numbers(), nil
}

func (s *franzSession) errorCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return -1
}

package bench

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaClient drives Herald and kfake with franz-go: acks=all, batches up
// to 1 MiB, 1 ms linger, no compression.
type kafkaClient struct{ addr string }

func (c *kafkaClient) Setup(ctx context.Context, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic)
	if errors.Is(err, kerr.TopicAlreadyExists) {
		err = nil
	}
	return err
}

type kafkaProducer struct {
	cl    *kgo.Client
	topic string
}

func (c *kafkaClient) NewProducer(ctx context.Context, topic string) (Producer, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.addr),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.ProducerLinger(time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(window),
		kgo.DefaultProduceTopic(topic),
	)
	if err != nil {
		return nil, err
	}
	return &kafkaProducer{cl: cl, topic: topic}, nil
}

func (p *kafkaProducer) Send(ctx context.Context, v []byte, done func(error)) {
	p.cl.Produce(ctx, &kgo.Record{Topic: p.topic, Value: v}, func(_ *kgo.Record, err error) { done(err) })
}

func (p *kafkaProducer) Flush(ctx context.Context) error { return p.cl.Flush(ctx) }
func (p *kafkaProducer) Close()                          { p.cl.Close() }

func (c *kafkaClient) Consume(ctx context.Context, topic string, n int, each func([]byte)) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(64<<20),
		kgo.FetchMaxPartitionBytes(32<<20),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			each(r.Value)
		})
	}
	return nil
}

func (c *kafkaClient) Close() {}

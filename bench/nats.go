package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
)

// natsClient drives NATS JetStream (file storage, one stream per topic)
// with nats.go: async publish with a window of in-flight PubAcks, and an
// ordered push consumer.
type natsClient struct{ url string }

func (c *natsClient) Setup(ctx context.Context, topic string) error {
	nc, err := nats.Connect(c.url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return err
	}
	_, err = js.AddStream(&nats.StreamConfig{Name: topic, Subjects: []string{topic}, Storage: nats.FileStorage, Replicas: 1}, nats.Context(ctx))
	return err
}

type natsAck struct {
	f    nats.PubAckFuture
	done func(error)
}

type natsProducer struct {
	nc    *nats.Conn
	js    nats.JetStreamContext
	topic string
	acks  chan natsAck // bounded: the in-flight window
	pend  *pending
}

func (c *natsClient) NewProducer(ctx context.Context, topic string) (Producer, error) {
	nc, err := nats.Connect(c.url)
	if err != nil {
		return nil, err
	}
	js, err := nc.JetStream(nats.PublishAsyncMaxPending(4 * window))
	if err != nil {
		nc.Close()
		return nil, err
	}
	p := &natsProducer{nc: nc, js: js, topic: topic, acks: make(chan natsAck, window), pend: newPending()}
	go p.ackLoop()
	return p, nil
}

// ackLoop completes futures in publish order; a stream acknowledges in
// order, so waiting on the oldest first delays no callback by much.
func (p *natsProducer) ackLoop() {
	for a := range p.acks {
		select {
		case <-a.f.Ok():
			a.done(nil)
		case err := <-a.f.Err():
			a.done(err)
		}
		p.pend.done()
	}
}

func (p *natsProducer) Send(ctx context.Context, v []byte, done func(error)) {
	p.pend.add()
	f, err := p.js.PublishAsync(p.topic, v)
	if err != nil {
		done(err)
		p.pend.done()
		return
	}
	p.acks <- natsAck{f: f, done: done}
}

func (p *natsProducer) Flush(ctx context.Context) error {
	p.pend.wait()
	return nil
}

func (p *natsProducer) Close() {
	close(p.acks)
	p.nc.Close()
}

func (c *natsClient) Consume(ctx context.Context, topic string, n int, each func([]byte)) error {
	nc, err := nats.Connect(c.url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return err
	}
	finished := make(chan struct{})
	got := 0
	sub, err := js.Subscribe(topic, func(m *nats.Msg) {
		if got >= n {
			return
		}
		got++
		each(m.Data)
		if got == n {
			close(finished)
		}
	}, nats.OrderedConsumer(), nats.DeliverAll())
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer sub.Unsubscribe()
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return err
	}
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return errors.Join(ctx.Err(), fmt.Errorf("read %d of %d", got, n))
	}
}

func (c *natsClient) Close() {}

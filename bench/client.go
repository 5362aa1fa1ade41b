package bench

import (
	"context"
	"sync"
)

// Client drives one peer with its native Go client.
//
// Implementations are safe for one workload at a time; each Producer is
// used from one goroutine.
type Client interface {
	// Setup creates topic (a Kafka topic, a JetStream stream or a Redis
	// stream key) so that a consumer can attach before anything is produced.
	Setup(ctx context.Context, topic string) error
	// NewProducer opens a producer with its own connection.
	NewProducer(ctx context.Context, topic string) (Producer, error)
	// Consume reads topic from its start and calls each for every record
	// until n records were read or ctx ends. each runs on one goroutine and
	// must not keep v.
	Consume(ctx context.Context, topic string, n int, each func(v []byte)) error
	Close()
}

// Producer sends records asynchronously with a bounded in-flight window.
type Producer interface {
	// Send queues v, blocking while the window is full. done runs once the
	// peer acknowledged the record (see PeerSpec.Ack) or failed it. The
	// caller must not change v before done runs.
	Send(ctx context.Context, v []byte, done func(error))
	// Flush waits until every sent record is acknowledged.
	Flush(ctx context.Context) error
	Close()
}

// window is the in-flight bound for the clients without one of their own.
const window = 4096

// NewClient returns the client for spec's protocol, connected to addr.
func NewClient(spec PeerSpec, addr string) Client {
	switch spec.Proto {
	case NATS:
		return &natsClient{url: "nats://" + addr}
	case Redis:
		return &redisClient{addr: addr}
	default:
		return &kafkaClient{addr: addr}
	}
}

// pending counts records sent and not yet acknowledged, so that Flush can
// wait for zero.
type pending struct {
	mu   sync.Mutex
	n    int
	zero *sync.Cond
}

func newPending() *pending {
	p := &pending{}
	p.zero = sync.NewCond(&p.mu)
	return p
}

func (p *pending) add() { p.mu.Lock(); p.n++; p.mu.Unlock() }

func (p *pending) done() {
	p.mu.Lock()
	p.n--
	if p.n == 0 {
		p.zero.Broadcast()
	}
	p.mu.Unlock()
}

func (p *pending) wait() {
	p.mu.Lock()
	for p.n > 0 {
		p.zero.Wait()
	}
	p.mu.Unlock()
}

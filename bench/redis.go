package bench

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisClient drives Redis Streams with go-redis: XADD pipelined in batches
// of up to redisBatch records with redisPipes pipelines in flight per
// producer, and XREAD from "0".
type redisClient struct{ addr string }

const (
	redisBatch = 1024 // 1 MiB of 1 KiB records, like the Kafka batch bound
	redisPipes = window / redisBatch
)

func (c *redisClient) Setup(ctx context.Context, topic string) error {
	rc := redis.NewClient(&redis.Options{Addr: c.addr})
	defer rc.Close()
	return rc.Del(ctx, topic).Err()
}

type redisItem struct {
	v    []byte
	done func(error)
}

type redisProducer struct {
	rc    *redis.Client
	topic string
	in    chan redisItem
	batch chan []redisItem
	pend  *pending
	stop  chan struct{}
}

func (c *redisClient) NewProducer(ctx context.Context, topic string) (Producer, error) {
	rc := redis.NewClient(&redis.Options{Addr: c.addr, PoolSize: redisPipes + 1, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
	p := &redisProducer{rc: rc, topic: topic, in: make(chan redisItem, redisBatch), batch: make(chan []redisItem), pend: newPending(), stop: make(chan struct{})}
	go p.collect()
	for range redisPipes {
		go p.pipe()
	}
	return p, nil
}

// collect groups whatever is queued, up to redisBatch, into one batch.
func (p *redisProducer) collect() {
	defer close(p.batch)
	for {
		var first redisItem
		select {
		case first = <-p.in:
		case <-p.stop:
			return
		}
		b := []redisItem{first}
	fill:
		for len(b) < redisBatch {
			select {
			case it := <-p.in:
				b = append(b, it)
			default:
				break fill
			}
		}
		p.batch <- b
	}
}

func (p *redisProducer) pipe() {
	ctx := context.Background()
	for b := range p.batch {
		pl := p.rc.Pipeline()
		cmds := make([]*redis.StringCmd, len(b))
		for i, it := range b {
			cmds[i] = pl.XAdd(ctx, &redis.XAddArgs{Stream: p.topic, ID: "*", Values: []any{"v", it.v}})
		}
		_, _ = pl.Exec(ctx)
		for i, it := range b {
			it.done(cmds[i].Err())
			p.pend.done()
		}
	}
}

func (p *redisProducer) Send(ctx context.Context, v []byte, done func(error)) {
	p.pend.add()
	p.in <- redisItem{v: v, done: done}
}

func (p *redisProducer) Flush(ctx context.Context) error {
	p.pend.wait()
	return nil
}

func (p *redisProducer) Close() {
	close(p.stop)
	p.rc.Close()
}

func (c *redisClient) Consume(ctx context.Context, topic string, n int, each func([]byte)) error {
	rc := redis.NewClient(&redis.Options{Addr: c.addr, ReadTimeout: 30 * time.Second})
	defer rc.Close()
	last, got := "0", 0
	for got < n {
		res, err := rc.XRead(ctx, &redis.XReadArgs{Streams: []string{topic, last}, Count: 4096, Block: 500 * time.Millisecond}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return err
		}
		for _, s := range res {
			for _, m := range s.Messages {
				last = m.ID
				if v, ok := m.Values["v"].(string); ok {
					got++
					each([]byte(v))
				}
			}
		}
	}
	return nil
}

func (c *redisClient) Close() {}

package shop

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/event"
)

// Catalog is a service's copy of the product catalogue, read from the
// compacted catalog topic (event-carried state transfer): every service
// that needs products keeps its own copy and asks no one. Safe for
// concurrent use.
type Catalog struct {
	ready chan struct{} // closed once the topic was read to its end at start
	mu    struct {
		sync.RWMutex
		products map[string]Product
	}
}

// NewCatalog returns an empty catalogue; Follow fills it.
func NewCatalog() *Catalog {
	c := &Catalog{ready: make(chan struct{})}
	c.mu.products = map[string]Product{}
	return c
}

// Ready is closed once the catalogue holds every product published before
// Follow started.
func (c *Catalog) Ready() <-chan struct{} { return c.ready }

// Get returns the product sku.
func (c *Catalog) Get(sku string) (Product, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.mu.products[sku]
	return p, ok
}

// Follow reads the catalog topic from its start and keeps reading until
// ctx is cancelled.
func (c *Catalog) Follow(ctx context.Context, env Env) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(env.Brokers...), kgo.ConsumeTopics(TopicCatalog),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, env.ClientOpts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, TopicCatalog)
	if err != nil {
		return fmt.Errorf("catalog end offsets: %w", err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	c.maybeReady(left)
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			c.apply(ctx, env.Codec, r)
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
		c.maybeReady(left)
	}
	return nil
}

func (c *Catalog) maybeReady(left map[int32]int64) {
	select {
	case <-c.ready:
	default:
		if len(left) == 0 {
			close(c.ready)
		}
	}
}

func (c *Catalog) apply(ctx context.Context, codec *Codec, r *kgo.Record) {
	e, err := event.FromRecord(r)
	if err != nil || e.Type != ProductListedType {
		return
	}
	p, err := event.Decode[Product](ctx, codec, e)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.mu.products[p.SKU] = p
	c.mu.Unlock()
}

// PublishCatalog publishes products to the catalog topic, keyed by SKU.
func PublishCatalog(ctx context.Context, cl *kgo.Client, codec *Codec, products []Product) error {
	for _, p := range products {
		e, err := codec.New(ctx, TopicCatalog, "/catalog", ProductListedType, p.SKU, p)
		if err != nil {
			return err
		}
		if err := cl.ProduceSync(ctx, e.Record(TopicCatalog)).FirstErr(); err != nil {
			return fmt.Errorf("publish product %s: %w", p.SKU, err)
		}
	}
	return nil
}

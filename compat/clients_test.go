package compat

import (
	"context"
	"errors"
	"testing"
)

// A client is one Kafka client library as the suite drives it. Every test
// that is about clients runs once per entry of clients().
type client struct {
	name string
	// caps: what this client can produce.
	caps caps
	// readsNulls: the client's consumer reports a null key or value
	// apart from an empty one.
	readsNulls bool
	// open connects a session to tg; the session is closed when the test
	// ends.
	open func(t testing.TB, tg target) session
}

// session is a connected client. Methods may be called from one goroutine
// at a time.
type session interface {
	// produce writes recs with acks=all, compressed with c, each to its
	// record's partition, in order, and returns when every record is
	// acknowledged or one failed. A session keeps its producers across
	// calls, so a produce after a broker restart reuses (and must
	// reconnect) the same producer. offsets holds the offset the broker
	// acknowledged for each record, or is nil if the client does not say.
	produce(ctx context.Context, topic string, c codec, recs []record) (offsets []int64, err error)

	// consume reads exactly n records of topic/partition starting at
	// offset, without a consumer group.
	consume(ctx context.Context, topic string, partition int32, offset int64, n int) ([]record, error)

	// createTopic creates topic with partitions partitions (replication
	// factor 1); errUnsupported if the client cannot.
	createTopic(ctx context.Context, topic string, partitions int32) error

	// partitions returns the partition ids metadata lists for topic.
	partitions(ctx context.Context, topic string) ([]int32, error)

	// errorCode returns the Kafka error code inside an error that
	// produce returned, or -1 if there is none.
	errorCode(err error) int16
}

var errUnsupported = errors.New("not supported by this client")

// clients returns every client the suite drives.
func clients() []client {
	return []client{franzClient(), saramaClient(), kafkaGoClient(), kcatClient()}
}

package broker

import (
	"errors"
	"fmt"
	"maps"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"

	hlog "github.com/heraldhq/herald/internal/log"
	"github.com/heraldhq/herald/internal/metadata"
	"github.com/heraldhq/herald/internal/records"
)

// Topic is a named set of partitions. Name and ID never change; the
// partitions and configs are an immutable snapshot replaced whole.
type Topic struct {
	Name  string
	ID    metadata.TopicID
	state atomic.Pointer[topicState]
	// schemas is the broker's schema validator (shared by all topics).
	schemas *atomic.Pointer[SchemaValidator]
}

type topicState struct {
	parts    []*Partition      // parts[i].Index == i
	configs  map[string]string // set on the topic; never mutated
	settings settings
}

func (t *Topic) partitions() []*Partition { return t.state.Load().parts }

// Partitions returns the partitions; the slice must not be modified.
func (t *Topic) Partitions() []*Partition { return t.partitions() }

// Partition returns partition i, or nil.
func (t *Topic) Partition(i int32) *Partition {
	parts := t.partitions()
	if i < 0 || int(i) >= len(parts) {
		return nil
	}
	return parts[i]
}

// Configs returns a copy of the configs set on the topic.
func (t *Topic) Configs() map[string]string { return maps.Clone(t.state.Load().configs) }

// DescribeConfigs returns every topic config with its value and source.
func (b *Broker) DescribeConfigs(t *Topic) []ConfigEntry {
	return b.describeTopicConfigs(t.state.Load().configs)
}

// checkProduceBatch checks what the log's validation cannot tell apart:
// a produce request (v3+) must hold exactly one v2 batch, whole. Kafka
// answers a CRC mismatch or truncation with CORRUPT_MESSAGE, and other
// malformed batches with INVALID_RECORD; the log's Validate does the rest.
func checkProduceBatch(b []byte) error {
	if len(b) < records.HeaderSize {
		return kafkaErr(kerr.CorruptMessage, fmt.Sprintf("%d bytes is shorter than a record batch header", len(b)))
	}
	h := records.Header(b)
	if h.Magic() != records.Magic {
		return kafkaErr(kerr.InvalidRecord, fmt.Sprintf("record batch magic %d; produce v3+ requires magic 2", h.Magic()))
	}
	if n, ok := records.PeekSize(b); !ok || n > len(b) {
		return kafkaErr(kerr.CorruptMessage, "record batch is truncated")
	} else if n < len(b) {
		return kafkaErr(kerr.InvalidRecord, "produce v3+ requires exactly one record batch per partition")
	}
	if h.IsControl() {
		return kafkaErr(kerr.InvalidRecord, "clients may not write control batches")
	}
	return nil
}

func appendErr(err error) error {
	switch {
	case errors.Is(err, records.ErrCorrupt):
		return kafkaErr(kerr.CorruptMessage, err.Error())
	case errors.Is(err, records.ErrInvalid):
		return kafkaErr(kerr.InvalidRecord, err.Error())
	case errors.Is(err, hlog.ErrClosed):
		return kafkaErr(kerr.UnknownTopicOrPartition, "partition was deleted")
	}
	return fmt.Errorf("append: %w", err)
}

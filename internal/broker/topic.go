package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync/atomic"
	"time"

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

// Partition is one partition of a topic: Herald is a single broker, so it is
// always the leader, at leader epoch 0.
type Partition struct {
	Topic *Topic
	Index int32
	Log   *hlog.Log

	logger  *slog.Logger // the broker's; never nil
	storage storageHealth
}

// SyncOnAck reports whether acks=-1 must wait for Log.WaitDurable (the
// topic's durability is always).
func (p *Partition) SyncOnAck() bool { return p.Topic.state.Load().settings.always }

// Append validates and appends one producer batch without waiting for
// fsync and without waking the flusher (Log.AppendLazy): the caller waits
// with Log.WaitDurable before acknowledging acks=-1, which leads the sync,
// or calls Log.SyncSoon when nobody will wait (acks 0 and 1).
// It applies max.message.bytes and message.timestamp.type; logAppendTime is
// -1 unless the topic uses LogAppendTime. The batch is validated (CRC
// included) before the append time is stamped into it, so a corrupt batch
// is CORRUPT_MESSAGE whatever the topic's timestamp type. A storage error
// is KAFKA_STORAGE_ERROR, recorded in the partition's storage health. b is
// modified (offsets, maybe the timestamp) and not retained.
func (p *Partition) Append(b []byte, now time.Time) (res hlog.AppendResult, logAppendTime int64, err error) {
	st := p.Topic.state.Load()
	if len(b) > st.settings.maxMessageBytes {
		return res, -1, kafkaErr(kerr.MessageTooLarge,
			fmt.Sprintf("batch of %d bytes exceeds max.message.bytes %d", len(b), st.settings.maxMessageBytes))
	}
	if err := checkProduceBatch(b); err != nil {
		return res, -1, err
	}
	if st.settings.schemas || p.Topic.Name == RegistryTopic {
		// The schema and registry checks parse records: validate first,
		// so that they never read bytes the CRC has not vouched for.
		// The log validates again; only these topics pay twice. The
		// append time and the compacted topic's keys are applied by the
		// log in its own validation pass (hlog.Produce).
		if err := records.Validate(b); err != nil {
			return res, -1, appendErr(err)
		}
	}
	if st.settings.schemas {
		if err := p.Topic.checkSchemas(b); err != nil {
			return res, -1, err
		}
	}
	if p.Topic.Name == RegistryTopic {
		if err := checkRegistryRecords(b); err != nil {
			return res, -1, err
		}
	}
	logAppendTime = -1
	if st.settings.logAppendTime {
		logAppendTime = now.UnixMilli()
	}
	res, err = p.Log.AppendLazy(b, hlog.Produce{LogAppendTime: logAppendTime, RequireKeys: st.settings.compact})
	if err != nil {
		if errors.Is(err, records.ErrCorrupt) || errors.Is(err, records.ErrInvalid) || errors.Is(err, hlog.ErrClosed) {
			return res, -1, appendErr(err)
		}
		// Anything else the log returns is its files' doing (a full
		// disk, an I/O error, a short write), as Kafka treats any
		// IOException on append.
		return res, -1, p.StorageFailed(err)
	}
	p.StorageOK()
	return res, logAppendTime, nil
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

package compat

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCompactedTopicRefusesKeylessRecords: Kafka refuses a batch with a
// record without a key on a cleanup.policy=compact topic with
// INVALID_RECORD (librdkafka's test 0011 expects it), compressed or not;
// nothing of the batch is stored, and keyed records (an empty key is a
// key) are accepted after it.
func TestCompactedTopicRefusesKeylessRecords(t *testing.T) {
	tg := startBroker(t)
	for _, codec := range []struct {
		name string
		c    kgo.CompressionCodec
	}{{"none", kgo.NoCompression()}, {"snappy", kgo.SnappyCompression()}} {
		t.Run(codec.name, func(t *testing.T) {
			topic := topicName(t)
			createTopic(t, tg, topic, 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")})
			cl := newKgo(t, tg, kgo.ProducerBatchCompression(codec.c), kgo.RecordRetries(0))
			ctx := testCtx(t, 20*time.Second)
			err := cl.ProduceSync(ctx,
				&kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("keyed")},
				&kgo.Record{Topic: topic, Value: []byte("keyless")},
			).FirstErr()
			if !errors.Is(err, kerr.InvalidRecord) {
				t.Fatalf("producing a keyless record to a compacted topic: %v, want INVALID_RECORD", err)
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte{}, Value: []byte("empty key")}).FirstErr(); err != nil {
				t.Fatalf("producing a record with an empty key after INVALID_RECORD: %v", err)
			}
			if end := endOffsets(t, tg, topic)[0]; end != 1 {
				t.Errorf("high watermark %d after a refused batch and one record, want 1", end)
			}
		})
	}
	for _, c := range clients() {
		t.Run(c.name, func(t *testing.T) {
			if !c.caps.nullKeys {
				t.Skipf("%s cannot send a null key", c.name)
			}
			topic := topicName(t)
			createTopic(t, tg, topic, 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")})
			s := c.open(t, tg)
			_, err := s.produce(testCtx(t, 20*time.Second), topic, codecNone, []record{{Value: []byte("keyless")}})
			if code := s.errorCode(err); code != kerr.InvalidRecord.Code {
				t.Fatalf("producing a keyless record to a compacted topic: %v (code %d), want INVALID_RECORD (87)", err, code)
			}
			if _, err := s.produce(testCtx(t, 20*time.Second), topic, codecNone, []record{{Key: []byte("k"), Value: []byte("keyed")}}); err != nil {
				t.Fatalf("producing a keyed record after INVALID_RECORD: %v", err)
			}
		})
	}
	t.Run("delete-policy", func(t *testing.T) {
		topic := topicName(t)
		createTopic(t, tg, topic, 1, nil)
		cl := newKgo(t, tg)
		if err := cl.ProduceSync(testCtx(t, 20*time.Second), &kgo.Record{Topic: topic, Value: []byte("keyless")}).FirstErr(); err != nil {
			t.Fatalf("producing a keyless record to a delete-policy topic: %v", err)
		}
	})
}

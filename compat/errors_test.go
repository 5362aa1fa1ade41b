package compat

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMessageTooLarge: a batch over the topic's max.message.bytes is
// refused with MESSAGE_TOO_LARGE, nothing of it is stored, and the client
// can go on producing.
func TestMessageTooLarge(t *testing.T) {
	tg := startBroker(t)
	for _, c := range clients() {
		t.Run(c.name, func(t *testing.T) {
			topic := topicName(t)
			createTopic(t, tg, topic, 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("1024")})
			s := c.open(t, tg)
			rng := mrand.New(mrand.NewPCG(2, 2))

			big := record{Key: []byte("big"), Value: genBytes(rng, 4096, c.caps.binary)}
			_, err := s.produce(testCtx(t, 20*time.Second), topic, codecNone, []record{big})
			if err == nil {
				t.Fatal("producing 4 KiB to a topic with max.message.bytes=1024 succeeded")
			}
			if code := s.errorCode(err); code != kerr.MessageTooLarge.Code {
				t.Fatalf("producing 4 KiB to a topic with max.message.bytes=1024: %v (code %d), want MESSAGE_TOO_LARGE (10)", err, code)
			}

			small := record{Key: []byte("small"), Value: []byte("fits")}
			if _, err := s.produce(testCtx(t, 20*time.Second), topic, codecNone, []record{small}); err != nil {
				t.Fatalf("produce after MESSAGE_TOO_LARGE: %v", err)
			}
			if end := endOffsets(t, tg, topic)[0]; end != 1 {
				t.Errorf("high watermark %d after one refused and one accepted record, want 1", end)
			}
		})
	}
	t.Run("broker-default", func(t *testing.T) {
		// Kafka's message.max.bytes defaults to 1 MiB + 12; a 2 MiB
		// batch is over any sane default.
		topic := topicName(t)
		createTopic(t, tg, topic, 1, nil)
		cl := newKgo(t, tg, kgo.ProducerBatchMaxBytes(8<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
		value := genBytes(mrand.New(mrand.NewPCG(3, 3)), 2<<20, true)
		err := cl.ProduceSync(testCtx(t, 20*time.Second), &kgo.Record{Topic: topic, Value: value}).FirstErr()
		if !errors.Is(err, kerr.MessageTooLarge) {
			t.Fatalf("producing a 2 MiB record: %v, want MESSAGE_TOO_LARGE", err)
		}
	})
}

// TestUnknownTopic: with auto-create off, producing to or asking metadata
// for a topic that does not exist is UNKNOWN_TOPIC_OR_PARTITION and creates
// nothing; with it on, producing creates the topic.
func TestUnknownTopic(t *testing.T) {
	t.Run("auto-create-off", testAutoCreateOff)
	t.Run("auto-create-on", testAutoCreateOn)
}

func testAutoCreateOff(t *testing.T) {
	tg := startBroker(t, withAutoCreate(false))
	if tg.autoCreate != autoCreateOff {
		t.Skipf("%s cannot be started with auto.create.topics.enable=false", tg.name)
	}
	topic := topicName(t)
	const want = "want UNKNOWN_TOPIC_OR_PARTITION (3)"
	t.Run("metadata", func(t *testing.T) {
		if code := metadataCode(t, tg, topic); code != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("metadata (allow_auto_topic_creation=true) for %s: error code %d, %s", topic, code, want)
		}
	})
	t.Run("franz-go", func(t *testing.T) {
		cl := newKgo(t, tg, kgo.UnknownTopicRetries(2))
		err := cl.ProduceSync(testCtx(t, 20*time.Second), &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
		if !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Errorf("produce to %s: %v, %s", topic, err, want)
		}
	})
	t.Run("sarama", func(t *testing.T) {
		cfg := saramaConfig(codecNone)
		cfg.Metadata.Retry.Max = 2
		cfg.Producer.Retry.Max = 2
		p, err := sarama.NewSyncProducer(tg.seeds, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("v")})
		if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			t.Errorf("produce to %s: %v, %s", topic, err, want)
		}
	})
	t.Run("kafka-go", func(t *testing.T) {
		s := kafkaGoClient().open(t, tg).(*kafkaGoSession)
		w := s.writer(codecNone)
		w.MaxAttempts = 2
		err := w.WriteMessages(testCtx(t, 20*time.Second), kafka.Message{Topic: topic, Value: []byte("v")})
		if code := s.errorCode(err); code != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("produce to %s: %v (code %d), %s", topic, err, code, want)
		}
	})
	if code := metadataCode(t, tg, topic); code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("after the refused requests, metadata for %s: error code %d, %s", topic, code, want)
	}
}

func testAutoCreateOn(t *testing.T) {
	tg := startBroker(t, withAutoCreate(true))
	if tg.autoCreate != autoCreateOn {
		t.Skipf("%s cannot be started with auto.create.topics.enable=true", tg.name)
	}
	topic := topicName(t)
	if tg.external {
		t.Cleanup(func() { deleteTopic(t, tg, topic) })
	}
	cl := newKgo(t, tg, kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(testCtx(t, 20*time.Second), &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce to %s with auto-create on: %v", topic, err)
	}
	var total int64
	for _, end := range endOffsets(t, tg, topic) {
		total += end
	}
	if total != 1 {
		t.Errorf("auto-created %s holds %d records, want 1", topic, total)
	}
}

// metadataCode asks for topic's metadata with allow_auto_topic_creation
// set, as producers do, and returns the topic's error code.
func metadataCode(t testing.TB, tg target, topic string) int16 {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = true
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), newKgo(t, tg))
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	for _, mt := range resp.Topics {
		if mt.Topic != nil && *mt.Topic == topic {
			return mt.ErrorCode
		}
	}
	t.Fatalf("metadata response does not mention %s", topic)
	return 0
}

// TestListOffsets: earliest, latest, by timestamp and max timestamp, as
// kadm asks for them (ListOffsets v1+).
func TestListOffsets(t *testing.T) {
	tg := startBroker(t)
	topic := topicName(t)
	createTopic(t, tg, topic, 3, nil)

	// Partition 0: ten records a second apart. Partition 1: the same but
	// offset 4 carries the largest timestamp. Partition 2: empty.
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	ts := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	var krs []*kgo.Record
	for p := range int32(2) {
		for i := range 10 {
			when := ts(i)
			if p == 1 && i == 4 {
				when = ts(1000)
			}
			krs = append(krs, &kgo.Record{Topic: topic, Partition: p, Value: []byte{byte(i)}, Timestamp: when})
		}
	}
	cl := newKgo(t, tg, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(testCtx(t, 20*time.Second), krs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	adm := newAdmin(t, tg)
	ctx := testCtx(t, 30*time.Second)
	type want struct {
		name      string
		list      func() (map[int32]int64, error)
		partition int32
		offset    int64
	}
	offsets := func(f func(context.Context, ...string) (kadm.ListedOffsets, error)) func() (map[int32]int64, error) {
		return func() (map[int32]int64, error) { return listed(f(ctx, topic)) }
	}
	afterMilli := func(ms int64) func() (map[int32]int64, error) {
		return func() (map[int32]int64, error) { return listed(adm.ListOffsetsAfterMilli(ctx, ms, topic)) }
	}
	for _, w := range []want{
		{"earliest", offsets(adm.ListStartOffsets), 0, 0},
		{"earliest", offsets(adm.ListStartOffsets), 2, 0},
		{"latest", offsets(adm.ListEndOffsets), 0, 10},
		{"latest", offsets(adm.ListEndOffsets), 1, 10},
		{"latest", offsets(adm.ListEndOffsets), 2, 0},
		{"before-first", afterMilli(ts(0).UnixMilli() - 1), 0, 0},
		{"exact", afterMilli(ts(3).UnixMilli()), 0, 3},
		{"between", afterMilli(ts(3).UnixMilli() + 500), 0, 4},
		{"last", afterMilli(ts(9).UnixMilli()), 0, 9},
		{"after-last", afterMilli(ts(9).UnixMilli() + 1), 0, 10},
		{"after-last-empty", afterMilli(ts(0).UnixMilli()), 2, 0},
		{"max-timestamp", offsets(adm.ListMaxTimestampOffsets), 0, 9},
		{"max-timestamp-not-last", offsets(adm.ListMaxTimestampOffsets), 1, 4},
	} {
		got, err := w.list()
		if err != nil {
			t.Errorf("%s: %v", w.name, err)
			continue
		}
		if got[w.partition] != w.offset {
			t.Errorf("%s, partition %d: offset %d, want %d", w.name, w.partition, got[w.partition], w.offset)
		}
	}
}

// listed flattens what kadm listed for one topic to partition -> offset.
func listed(l kadm.ListedOffsets, err error) (map[int32]int64, error) {
	if err == nil {
		err = l.Error()
	}
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64)
	l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

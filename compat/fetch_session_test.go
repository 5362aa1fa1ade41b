package compat

import (
	"io"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaGoClientFetch: segmentio/kafka-go's Client.Fetch sends a full
// fetch with session id -1 and epoch -1 (sessionless). Kafka serves it;
// it must get the records, not FETCH_SESSION_ID_NOT_FOUND ("topic not
// found" to kafka-go).
func TestKafkaGoClientFetch(t *testing.T) {
	tg := startBroker(t)
	topic := topicName(t)
	createTopic(t, tg, topic, 1, nil)
	cl := newKgo(t, tg)
	if err := cl.ProduceSync(testCtx(t, 20*time.Second), &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	kc := &kafka.Client{Addr: kafka.TCP(tg.seeds...), Timeout: 10 * time.Second}
	res, err := kc.Fetch(testCtx(t, 20*time.Second), &kafka.FetchRequest{Topic: topic, Partition: 0, Offset: 0, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("kafka-go Client.Fetch: %v", err)
	}
	if res.Error != nil {
		t.Fatalf("kafka-go Client.Fetch: partition error %v", res.Error)
	}
	r, err := res.Records.ReadRecord()
	if err != nil {
		t.Fatalf("reading the fetched record: %v", err)
	}
	if v, _ := io.ReadAll(r.Value); r.Offset != 0 || string(v) != "v" {
		t.Fatalf("first fetched record at offset %d, value %q; want offset 0, value \"v\"", r.Offset, v)
	}
}

package compat

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// written is what one client produced into its topic: partition i holds
// recs[i], compressed with codecs[i], if ok[i].
type written struct {
	producer client
	topic    string
	recs     [][]record
	windows  []window
	ok       []bool
}

// produced reports whether partition i was produced without error; the
// checks skip the others (their produce test failed already) rather than
// wait for records that are not coming.
func (w written) produced(i int) bool { return i < len(w.ok) && w.ok[i] }

// TestProduceConsume is the core of the suite. Every client produces, into
// its own topic, one partition per compression codec with keys (null,
// empty, binary), values (null, empty, up to 13 KiB), headers and
// timestamps; then every client reads every partition back and must see
// exactly what was written, at contiguous offsets from 0.
func TestProduceConsume(t *testing.T) {
	tg := startBroker(t)
	const n = 120
	var all []written
	for _, c := range clients() {
		// Created here, not in the subtest: on an external cluster
		// the topic is deleted when the test that created it ends.
		w := written{producer: c, topic: topicName(t, c.name)}
		createTopic(t, tg, w.topic, int32(len(codecs)), nil)
		all = append(all, w)
	}
	t.Run("produce", func(t *testing.T) {
		for i, w := range all {
			t.Run(w.producer.name, func(t *testing.T) { all[i] = produceAllCodecs(t, tg, w, n) })
		}
	})
	t.Run("stored", func(t *testing.T) {
		for _, w := range all {
			t.Run(w.producer.name, func(t *testing.T) { checkStored(t, tg, w) })
		}
	})
	t.Run("consume", func(t *testing.T) {
		for _, c := range clients() {
			t.Run(c.name, func(t *testing.T) {
				s := c.open(t, tg)
				for _, w := range all {
					t.Run("from-"+w.producer.name, func(t *testing.T) { readBack(t, s, c, w) })
				}
			})
		}
	})
}

// produceAllCodecs has w.producer write n records per codec, partition i
// compressed with codecs[i], and checks the acknowledged offsets.
func produceAllCodecs(t *testing.T, tg target, w written, n int) written {
	s := w.producer.open(t, tg)
	rng := mrand.New(mrand.NewPCG(1, uint64(len(w.producer.name))))
	for i, cd := range codecs {
		recs := genRecords(rng, n, int32(i), w.producer.caps)
		ctx := testCtx(t, 30*time.Second)
		win := window{from: time.Now()}
		offsets, err := s.produce(ctx, w.topic, cd, recs)
		win.to = time.Now()
		w.recs = append(w.recs, recs)
		w.windows = append(w.windows, win)
		w.ok = append(w.ok, err == nil)
		if err != nil {
			t.Errorf("produce %d records with %s: %v", n, cd, err)
			continue
		}
		checkAckedOffsets(t, cd, offsets, 0)
	}
	return w
}

// checkAckedOffsets checks that a client that reports acknowledged offsets
// got first, first+1, ...
func checkAckedOffsets(t testing.TB, label codec, offsets []int64, first int64) {
	t.Helper()
	for i, o := range offsets {
		if o != first+int64(i) {
			t.Errorf("%s: record %d acknowledged at offset %d, want %d", label, i, o, first+int64(i))
			return
		}
	}
}

// checkStored checks what the broker holds for w: each partition's high
// watermark is the number of records written, and its batches carry the
// codec they were produced with (a broker must store batches as the
// producer compressed them). Clients may send a batch uncompressed when
// compression would not shrink it, so a batch may also be uncompressed,
// but at least one must use the codec.
func checkStored(t *testing.T, tg target, w written) {
	ends := endOffsets(t, tg, w.topic)
	for i, cd := range codecs {
		if !w.produced(i) {
			continue
		}
		if got, want := ends[int32(i)], int64(len(w.recs[i])); got != want {
			t.Errorf("partition %d (%s): high watermark %d, want %d", i, cd, got, want)
		}
		seen := make(map[codec]int)
		records := 0
		for _, b := range fetchBatches(t, tg, w.topic, int32(i)) {
			seen[codecs[b.Attributes&0x07]]++
			records += int(b.NumRecords)
		}
		if records != len(w.recs[i]) {
			t.Errorf("partition %d (%s): raw fetch returned %d records in %v, want %d", i, cd, records, seen, len(w.recs[i]))
		}
		for c := range seen {
			if c != cd && c != codecNone {
				t.Errorf("partition %d: batches compressed with %s, want %s", i, c, cd)
			}
		}
		if seen[cd] == 0 && cd != codecZstd && w.producer.name == "kcat" {
			if why, ok := tg.quirk(quirkLegacyCodecs); ok {
				t.Logf("partition %d: kcat sent %s batches uncompressed: known quirk: %s", i, cd, why)
				continue
			}
		}
		if seen[cd] == 0 {
			t.Errorf("partition %d: no batch compressed with %s (batches by codec: %v)%s", i, cd, seen, codecHint(w.producer, cd))
		}
	}
}

// codecHint explains why librdkafka may have sent a codec's batches
// uncompressed: before compressing with gzip, snappy or lz4 it wants the
// broker to advertise Produce v0, and for lz4 also FindCoordinator v0
// (feature LZ4); see rd_kafka_msgset_writer_select_MsgVersion.
func codecHint(producer client, c codec) string {
	if producer.name != "kcat" {
		return ""
	}
	switch c {
	case codecGzip, codecSnappy:
		return "; librdkafka compresses with " + string(c) + " only if ApiVersions advertises Produce v0"
	case codecLz4:
		return "; librdkafka compresses with lz4 only if ApiVersions advertises Produce v0 and FindCoordinator v0"
	}
	return ""
}

// fetchBatches returns the record batches of topic/partition as the broker
// serves them, by raw Fetch requests to the partition's leader.
func fetchBatches(t testing.TB, tg target, topic string, partition int32) []kmsg.RecordBatch {
	t.Helper()
	cl := newKgo(t, tg)
	ctx := testCtx(t, 20*time.Second)
	leader, topicID := leaderOf(ctx, t, cl, topic, partition)
	var batches []kmsg.RecordBatch
	for offset := int64(0); ; {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 100
		req.MaxBytes = 8 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rt.TopicID = topicID // Fetch v13+ names topics by ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = partition
		rp.FetchOffset = offset
		rp.PartitionMaxBytes = 8 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
		if err != nil {
			t.Fatalf("fetch %s/%d@%d: %v", topic, partition, offset, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch %s/%d@%d: response has %d topics", topic, partition, offset, len(resp.Topics))
		}
		p := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			t.Fatalf("fetch %s/%d@%d: %v", topic, partition, offset, err)
		}
		got := parseBatches(t, p.RecordBatches)
		if len(got) == 0 || offset >= p.HighWatermark {
			return batches
		}
		batches = append(batches, got...)
		last := got[len(got)-1]
		offset = last.FirstOffset + int64(last.LastOffsetDelta) + 1
	}
}

// parseBatches splits fetched bytes into whole record batches; a partial
// batch at the end (the fetch limit cut it) is dropped.
func parseBatches(t testing.TB, b []byte) []kmsg.RecordBatch {
	var out []kmsg.RecordBatch
	for len(b) >= 12 {
		length := int(int32(uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11])))
		if 12+length > len(b) {
			break
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b[:12+length]); err != nil {
			t.Fatalf("fetched batch does not parse: %v", err)
		}
		if rb.Magic != 2 {
			t.Fatalf("fetched batch has magic %d, want 2", rb.Magic)
		}
		out = append(out, rb)
		b = b[12+length:]
	}
	return out
}

// leaderOf returns the leader of topic/partition and the topic's ID.
func leaderOf(ctx context.Context, t testing.TB, cl *kgo.Client, topic string, partition int32) (int32, [16]byte) {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("metadata %s: %v", topic, err)
	}
	for _, mt := range resp.Topics {
		for _, mp := range mt.Partitions {
			if mp.Partition == partition {
				return mp.Leader, mt.TopicID
			}
		}
	}
	t.Fatalf("metadata has no partition %s/%d", topic, partition)
	return -1, [16]byte{}
}

// readBack has client c (session s) read every partition of w and compare.
func readBack(t *testing.T, s session, c client, w written) {
	for i, cd := range codecs {
		if !w.produced(i) {
			continue
		}
		want := w.recs[i]
		ctx := testCtx(t, 30*time.Second)
		got, err := s.consume(ctx, w.topic, int32(i), 0, len(want))
		if err != nil {
			t.Errorf("consume partition %d (%s): %v", i, cd, err)
			continue
		}
		t.Run(string(cd), func(t *testing.T) {
			compareRecords(t, want, got, 0, c.readsNulls, w.windows[i])
		})
	}
}

// TestMetadata: every client that can create topics creates one, and every
// client's metadata lists every topic with all its partitions and a
// leader; creating a topic twice is TOPIC_ALREADY_EXISTS.
func TestMetadata(t *testing.T) {
	tg := startBroker(t)
	type created struct {
		topic      string
		partitions int32
	}
	var topics []created
	parent := t
	for i, c := range clients() {
		t.Run("create/"+c.name, func(t *testing.T) {
			s := c.open(t, tg)
			topic, parts := topicName(t), int32(2+i)
			err := s.createTopic(testCtx(t, 15*time.Second), topic, parts)
			if errors.Is(err, errUnsupported) {
				t.Skipf("%s cannot create topics", c.name)
			}
			if err != nil {
				t.Fatalf("create %s: %v", topic, err)
			}
			if tg.external {
				parent.Cleanup(func() { deleteTopic(parent, tg, topic) }) // after the list subtests
			}
			topics = append(topics, created{topic, parts})
			err = s.createTopic(testCtx(t, 15*time.Second), topic, parts)
			if code := s.errorCode(err); code != 36 {
				t.Errorf("creating %s again: %v (code %d), want TOPIC_ALREADY_EXISTS (36)", topic, err, code)
			}
		})
	}
	for _, c := range clients() {
		t.Run("list/"+c.name, func(t *testing.T) {
			s := c.open(t, tg)
			for _, tp := range topics {
				want := make([]int32, tp.partitions)
				for i := range want {
					want[i] = int32(i)
				}
				checkFor(t, 10*time.Second, func() error {
					got, err := s.partitions(testCtx(t, 10*time.Second), tp.topic)
					if err != nil {
						return fmt.Errorf("metadata for %s: %w", tp.topic, err)
					}
					if !slices.Equal(got, want) {
						return fmt.Errorf("metadata for %s lists partitions %v, want %v", tp.topic, got, want)
					}
					return nil
				})
			}
		})
	}
}
